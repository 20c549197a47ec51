// writeRouteLog in its own process (route-log.ts writeRouteLogApart): PATH JSON({spec, listeners}).
import type { Listener } from '../../src/routes/route-model.js';
import { writeRouteLog } from './route-log.js';
import type { RouteSetSpec } from './sync.js';

const [path, args] = process.argv.slice(2);
const { spec, listeners } = JSON.parse(args!) as { spec: RouteSetSpec; listeners: Listener[] };
await writeRouteLog(path!, spec, listeners);
