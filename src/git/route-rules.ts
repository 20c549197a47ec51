// The route-definition rules the watcher applies, in one place: parsing and
// whole-set validation come from src/routes/ (the same rules as `rauta validate`).
export { parseRouteFile, isRouteFile, type ParsedFile } from '../routes/parse-file.js';
export { validateRouteSet } from '../routes/validate-set.js';
