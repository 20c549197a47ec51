// `node --import ./test/helpers/deny-koffi.mjs ...`: the process cannot load
// koffi (the FFI over libbpf), as on a CI runner without libbpf.so.1: any
// import of it fails with "koffi denied". Proves a command needs no libbpf.
import { register } from 'node:module';

const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === 'koffi' || specifier.startsWith('koffi/')) throw new Error('koffi denied: this process runs as if libbpf.so.1 were missing');
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
