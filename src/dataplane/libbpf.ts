// The only module that knows the FFI: koffi over libbpf.so.1 (and two libc calls).
// Everything above speaks file descriptors and Buffers. Kernel/libbpf statuses
// become errors in exactly one function, bpfFail(), which keeps the errno.
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { existsSync, mkdirSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BpfError, type ErrorCode } from '../errors.js';

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

koffi.opaque('bpf_object');
koffi.opaque('bpf_map');
koffi.opaque('bpf_program');

const TestRunOpts = koffi.struct('rauta_bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

const TcHook = koffi.struct('rauta_bpf_tc_hook', {
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int',
  parent: 'uint32_t',
});

const TcOpts = koffi.struct('rauta_bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});

const PrintFn = koffi.proto('int rauta_libbpf_print_fn(int level, const char *fmt, void *args)');

const c = {
  open_file: libbpf.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
  obj_load: libbpf.func('int bpf_object__load(bpf_object *obj)'),
  obj_close: libbpf.func('void bpf_object__close(bpf_object *obj)'),
  next_map: libbpf.func('bpf_map *bpf_object__next_map(bpf_object *obj, bpf_map *prev)'),
  next_program: libbpf.func('bpf_program *bpf_object__next_program(bpf_object *obj, bpf_program *prev)'),
  map_name: libbpf.func('const char *bpf_map__name(bpf_map *map)'),
  map_type: libbpf.func('int bpf_map__type(bpf_map *map)'),
  map_key_size: libbpf.func('uint32_t bpf_map__key_size(bpf_map *map)'),
  map_value_size: libbpf.func('uint32_t bpf_map__value_size(bpf_map *map)'),
  map_max_entries: libbpf.func('uint32_t bpf_map__max_entries(bpf_map *map)'),
  map_set_max_entries: libbpf.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max)'),
  map_reuse_fd: libbpf.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  map_fd: libbpf.func('int bpf_map__fd(bpf_map *map)'),
  prog_name: libbpf.func('const char *bpf_program__name(bpf_program *prog)'),
  prog_type: libbpf.func('int bpf_program__type(bpf_program *prog)'),
  prog_fd: libbpf.func('int bpf_program__fd(bpf_program *prog)'),
  prog_set_log_buf: libbpf.func('int bpf_program__set_log_buf(bpf_program *prog, void *buf, size_t size)'),
  prog_set_log_level: libbpf.func('int bpf_program__set_log_level(bpf_program *prog, uint32_t level)'),
  obj_pin: libbpf.func('int bpf_obj_pin(int fd, const char *path)'),
  obj_get: libbpf.func('int bpf_obj_get(const char *path)'),
  obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, _Inout_ uint8_t *info, _Inout_ uint32_t *len)'),
  enable_stats: libbpf.func('int bpf_enable_stats(int type)'),
  map_create: libbpf.func('int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)'),
  lookup: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  update: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  delete_: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)'),
  lookup_and_delete: libbpf.func('int bpf_map_lookup_and_delete_elem(int fd, const void *key, void *value)'),
  next_key: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
  update_batch: libbpf.func('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, void *opts)'),
  num_cpus: libbpf.func('int libbpf_num_possible_cpus(void)'),
  xdp_attach: libbpf.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, void *opts)'),
  xdp_detach: libbpf.func('int bpf_xdp_detach(int ifindex, uint32_t flags, void *opts)'),
  xdp_query_id: libbpf.func('int bpf_xdp_query_id(int ifindex, int flags, _Out_ uint32_t *prog_id)'),
  test_run: libbpf.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ rauta_bpf_test_run_opts *opts)'),
  tc_hook_create: libbpf.func('int bpf_tc_hook_create(rauta_bpf_tc_hook *hook)'),
  tc_attach: libbpf.func('int bpf_tc_attach(rauta_bpf_tc_hook *hook, _Inout_ rauta_bpf_tc_opts *opts)'),
  tc_detach: libbpf.func('int bpf_tc_detach(rauta_bpf_tc_hook *hook, rauta_bpf_tc_opts *opts)'),
  tc_query: libbpf.func('int bpf_tc_query(rauta_bpf_tc_hook *hook, _Inout_ rauta_bpf_tc_opts *opts)'),
  set_print: libbpf.func('void *libbpf_set_print(rauta_libbpf_print_fn *fn)'),
  errno_location: libc.func('int *__errno_location(void)'),
  vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  open: libc.func('int open(const char *path, int flags)'),
  close: libc.func('int close(int fd)'),
};

/** BPF map types we name in messages (linux/bpf.h enum bpf_map_type). */
export const MAP_TYPES: Record<number, string> = { 1: 'hash', 2: 'array', 5: 'percpu_hash', 6: 'percpu_array', 9: 'lru_hash' };
export const BPF_MAP_TYPE = { HASH: 1, ARRAY: 2, PERCPU_HASH: 5, PERCPU_ARRAY: 6, LRU_HASH: 9 } as const;
/** bpf_map_update_elem flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
/** XDP verdicts. */
export const XDP = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
/** TC verdicts (linux/pkt_cls.h). */
export const TC_ACT = { OK: 0, SHOT: 2, REDIRECT: 7 } as const;
const XDP_FLAGS_SKB_MODE = 2;
const XDP_FLAGS_DRV_MODE = 4;
const BPF_FS_MAGIC = 0xcafe4a11;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(osConstants.errno).map(([name, num]) => [num, name]));
const E = osConstants.errno;

function lastErrno(): number {
  return koffi.decode(c.errno_location(), 'int') as number;
}

/**
 * The one place a kernel/libbpf status becomes an error. `status` is libbpf's
 * negative return (-errno) or a positive errno. Says what to do where it can.
 */
export function bpfFail(what: string, status: number, opts: { code?: ErrorCode; path?: string; detail?: string } = {}): never {
  const errno = Math.abs(status);
  const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  let code: ErrorCode = opts.code ?? 'RAUTA_ERR_BPF_SYSCALL';
  let hint = '';
  if (code === 'RAUTA_ERR_BPF_LOAD' && (errno === E.EACCES || errno === E.EINVAL) && opts.detail) {
    hint = ': the verifier refused the program (log below)'; // as root, EACCES on load is the verifier
  } else if (errno === E.EPERM || (errno === E.EACCES && process.getuid?.() !== 0)) {
    code = 'RAUTA_ERR_BPF_PERMISSION';
    hint = ': run as root (CAP_BPF and CAP_NET_ADMIN are needed)';
  } else if (opts.path !== undefined && (errno === E.ENOENT || errno === E.EINVAL) && !onBpffs(opts.path)) {
    code = 'RAUTA_ERR_BPF_NO_BPFFS';
    hint = `: ${opts.path} is not on a bpffs mount: mount -t bpf bpf ${bpffsRootGuess(opts.path)} or choose a pin dir under /sys/fs/bpf`;
  } else if (errno === E.ENOENT && opts.path !== undefined) {
    hint = `: ${opts.path} does not exist`;
  } else if (errno === E.EBUSY && code === 'RAUTA_ERR_BPF_ATTACH') {
    hint = ': another XDP program is attached; detach it first';
  } else if (errno === E.E2BIG || errno === E.ENOSPC) {
    hint = ': the map is full; raise its max entries';
  }
  const detail = opts.detail ? `\n${opts.detail}` : '';
  throw new BpfError(code, `${what} failed: ${name} (${errno})${hint}${detail}`, errno);
}

function bpffsRootGuess(path: string): string {
  return path.startsWith('/sys/fs/bpf') ? '/sys/fs/bpf' : dirname(path);
}

/** True when the nearest existing ancestor of `path` is on a bpffs mount. */
export function onBpffs(path: string): boolean {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) return false;
    p = up;
  }
  try {
    return Number(statfsSync(p).type) === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Create the pin directory (and parents) on bpffs, or explain why not. */
export function ensurePinDir(pinDir: string): void {
  if (!onBpffs(pinDir)) bpfFail(`use pin directory ${pinDir}`, E.ENOENT, { code: 'RAUTA_ERR_BPF_NO_BPFFS', path: pinDir });
  try {
    mkdirSync(pinDir, { recursive: true });
  } catch (err) {
    bpfFail(`mkdir ${pinDir}`, (err as NodeJS.ErrnoException).errno ?? E.EIO, { path: pinDir });
  }
}

// ---- libbpf log capture -------------------------------------------------

let logSink: string[] | null = null;
const printCb = koffi.register((level: number, fmt: string, args: unknown): number => {
  const buf = Buffer.alloc(2048);
  const n = c.vsnprintf(buf, buf.length, fmt, args) as number;
  const line = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8');
  // level 0 warn, 1 info, 2 debug: keep warnings and info, drop debug noise
  if (logSink && level <= 1) logSink.push(line.trimEnd());
  return 0;
}, koffi.pointer(PrintFn));
c.set_print(printCb);

function withLog<T>(fn: (log: string[]) => T): T {
  const prev = logSink;
  const log: string[] = [];
  logSink = log;
  try {
    return fn(log);
  } finally {
    logSink = prev;
  }
}

// ---- objects ------------------------------------------------------------

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface MapInfo extends MapSpec {
  id: number;
}

export interface LoadOptions {
  /** Per map name: max_entries to set before load. */
  maxEntries?: Record<string, number>;
  /** Reuse maps pinned here (checked first), pin the rest and the programs here after load. */
  pinDir?: string;
  /** Pin name per program name; default `prog_<program name>`. */
  progPinNames?: Record<string, string>;
  /**
   * Maps that hold only runtime state (connections, counters): a pin of another
   * layout is replaced by a new empty map instead of refusing the load.
   */
  replaceOnMismatch?: readonly string[];
  /**
   * Maps the caller rebuilds in full (desired state): a pin whose type, key or
   * value size differs (an older layout) is replaced by a new empty map; a
   * different max_entries (a capacity setting) is still refused.
   */
  replaceOnLayoutChange?: readonly string[];
  /** Verifier log level on success (4 = stats); the log is returned. 0: log only on failure. */
  logLevel?: number;
}

export interface LoadedObject {
  /** Program fds by program (function) name. */
  progs: Record<string, number>;
  maps: Record<string, number>;
  specs: Record<string, MapSpec>;
  /** Names of maps reused from pins. */
  reused: string[];
  /** Maps whose pin had another layout and were replaced by empty ones (replaceOnMismatch), with what differed. */
  replaced: Array<{ name: string; diffs: string }>;
  /** Verifier log (logLevel > 0), libbpf messages otherwise. */
  log: string;
  close(): void;
}

const LOG_BUF_SIZE = 4 << 20;

/** Maps libbpf makes for global data (.rodata, .bss): per load, never pinned or reused. */
function isInternalMap(name: string): boolean {
  return name.includes('.');
}

/**
 * Open and load a BPF object and all its programs. With pinDir: every map
 * whose pin exists is checked (type, key, value, max entries) and reused; a
 * mismatch throws RAUTA_ERR_BPF_MAP_MISMATCH before anything is loaded or
 * pinned, unless the map is in replaceOnMismatch.
 */
export function loadObject(objectPath: string, opts: LoadOptions = {}): LoadedObject {
  // No `path`: bpfFail would blame bpffs for a missing object file.
  if (!existsSync(objectPath))
    bpfFail(`open ${objectPath}`, E.ENOENT, { code: 'RAUTA_ERR_BPF_LOAD', detail: `${objectPath} does not exist: build it with: make -C bpf` });
  if (opts.pinDir !== undefined) ensurePinDir(opts.pinDir);
  return withLog((log) => {
    const obj = c.open_file(objectPath, null);
    if (!obj) bpfFail(`open ${objectPath}`, lastErrno() || E.EINVAL, { code: 'RAUTA_ERR_BPF_LOAD', detail: log.join('\n') });
    const openedFds: number[] = [];
    const logMems: unknown[] = [];
    try {
      const maps = new Map<string, unknown>();
      for (let m = c.next_map(obj, null); m; m = c.next_map(obj, m)) maps.set(c.map_name(m) as string, m);
      for (const [name, max] of Object.entries(opts.maxEntries ?? {})) {
        const m = maps.get(name);
        if (!m) bpfFail(`set max entries of ${name}`, E.ENOENT, { code: 'RAUTA_ERR_BPF_LOAD', detail: `no map named ${name} in ${objectPath}` });
        const r = c.map_set_max_entries(m, max) as number;
        if (r < 0) bpfFail(`set max entries of ${name} to ${max}`, r, { code: 'RAUTA_ERR_BPF_LOAD' });
      }
      const specs: Record<string, MapSpec> = {};
      for (const [name, m] of maps) {
        if (isInternalMap(name)) continue;
        specs[name] = {
          name,
          type: c.map_type(m) as number,
          keySize: c.map_key_size(m) as number,
          valueSize: c.map_value_size(m) as number,
          maxEntries: c.map_max_entries(m) as number,
        };
      }
      // Check every pinned map before reusing any, so a mismatch changes nothing.
      const reuse: Array<[string, number]> = [];
      const replaced: Array<{ name: string; diffs: string }> = [];
      const replaceable = new Set(opts.replaceOnMismatch ?? []);
      const rebuildable = new Set(opts.replaceOnLayoutChange ?? []);
      if (opts.pinDir !== undefined) {
        for (const [name, spec] of Object.entries(specs)) {
          const path = join(opts.pinDir, name);
          if (!existsSync(path)) continue;
          const fd = objGet(path);
          openedFds.push(fd);
          const found = mapInfo(fd);
          const diffs = (['type', 'keySize', 'valueSize', 'maxEntries'] as const)
            .filter((f) => found[f] !== spec[f])
            .map((f) => `${f} expected ${fmtField(f, spec[f])}, found ${fmtField(f, found[f])}`);
          if (diffs.length === 0) reuse.push([name, fd]);
          else if (replaceable.has(name) || (rebuildable.has(name) && found.maxEntries === spec.maxEntries)) replaced.push({ name, diffs: diffs.join('; ') });
          else {
            throw new BpfError(
              'RAUTA_ERR_BPF_MAP_MISMATCH',
              `pinned map ${path} does not match ${objectPath}: ${diffs.join('; ')}. ` +
                `Nothing was changed. Remove the pin (rm ${path}) to start that map empty, or load the object it was made for.`,
              0,
            );
          }
        }
        for (const [name, fd] of reuse) {
          const r = c.map_reuse_fd(maps.get(name), fd) as number;
          if (r < 0) bpfFail(`reuse pinned map ${name}`, r, { code: 'RAUTA_ERR_BPF_LOAD' });
        }
      }
      const programs = new Map<string, unknown>();
      for (let p = c.next_program(obj, null); p; p = c.next_program(obj, p)) programs.set(c.prog_name(p) as string, p);
      if (programs.size === 0) bpfFail(`load ${objectPath}`, E.ENOENT, { code: 'RAUTA_ERR_BPF_LOAD', detail: 'the object has no program' });
      const logOf = new Map<string, unknown>();
      for (const [name, prog] of programs) {
        const mem = koffi.alloc('uint8_t', LOG_BUF_SIZE);
        logMems.push(mem);
        logOf.set(name, mem);
        c.prog_set_log_buf(prog, mem, LOG_BUF_SIZE);
        if (opts.logLevel) c.prog_set_log_level(prog, opts.logLevel);
      }
      const r = c.obj_load(obj) as number;
      const vlog = [...logOf]
        .map(([name, mem]) => {
          const text = readCString(mem, LOG_BUF_SIZE);
          return text ? `${name}:\n${text}` : '';
        })
        .filter(Boolean)
        .join('\n');
      if (r < 0) {
        bpfFail(`load ${objectPath}`, r, { code: 'RAUTA_ERR_BPF_LOAD', detail: tail(vlog || log.join('\n'), 60) });
      }
      const mapFds: Record<string, number> = {};
      for (const [name, m] of maps) if (!isInternalMap(name)) mapFds[name] = c.map_fd(m) as number;
      const progFds: Record<string, number> = {};
      for (const [name, prog] of programs) progFds[name] = c.prog_fd(prog) as number;
      if (opts.pinDir !== undefined) {
        const reused = new Set(reuse.map(([n]) => n));
        for (const [name, fd] of Object.entries(mapFds)) {
          if (reused.has(name)) continue;
          const path = join(opts.pinDir, name);
          if (existsSync(path)) unlinkSync(path); // a replaced pin of another layout
          objPin(fd, path);
        }
        for (const [name, fd] of Object.entries(progFds)) {
          const progPin = join(opts.pinDir, opts.progPinNames?.[name] ?? `prog_${name}`);
          if (existsSync(progPin)) unlinkSync(progPin); // the new program replaces the old pin
          objPin(fd, progPin);
        }
      }
      for (const fd of openedFds.splice(0)) c.close(fd); // libbpf dup'ed the reused fds
      let closed = false;
      return {
        progs: progFds,
        maps: mapFds,
        specs,
        reused: reuse.map(([n]) => n),
        replaced,
        log: vlog || log.join('\n'),
        close() {
          if (closed) return;
          closed = true;
          c.obj_close(obj);
        },
      };
    } catch (err) {
      for (const fd of openedFds) c.close(fd);
      c.obj_close(obj);
      throw err;
    } finally {
      for (const mem of logMems) koffi.free(mem);
    }
  });
}

function fmtField(f: string, v: number): string {
  return f === 'type' ? `${MAP_TYPES[v] ?? 'type'} (${v})` : String(v);
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

function readCString(mem: unknown, size: number): string {
  const bytes = Buffer.from(koffi.view(mem, size));
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? size : end).toString('utf8');
}

// ---- fds, pins, info ----------------------------------------------------

/** Open a pinned map or program by path. */
export function objGet(path: string): number {
  const fd = c.obj_get(path) as number;
  if (fd < 0) bpfFail(`open pinned object ${path}`, fd, { path });
  return fd;
}

export function objPin(fd: number, path: string): void {
  const r = c.obj_pin(fd, path) as number;
  if (r < 0) bpfFail(`pin to ${path}`, r, { path });
}

export function closeFd(fd: number): void {
  if (fd >= 0) c.close(fd);
}

function objInfo(fd: number, size: number): Buffer {
  const info = Buffer.alloc(size);
  const len = [size];
  const r = c.obj_get_info_by_fd(fd, info, len) as number;
  if (r < 0) bpfFail(`get info of fd ${fd}`, r);
  return info;
}

/** Type, sizes and id of a map fd (struct bpf_map_info). */
export function mapInfo(fd: number): MapInfo {
  const info = objInfo(fd, 88);
  const nameEnd = info.subarray(24, 40).indexOf(0);
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    name: info.subarray(24, nameEnd < 0 ? 40 : 24 + nameEnd).toString('utf8'),
  };
}

/** Program id of a program fd (struct bpf_prog_info.id). */
export function progId(fd: number): number {
  return objInfo(fd, 228).readUInt32LE(4);
}

/** The kernel's per-program run statistics (struct bpf_prog_info); they only grow while run-time stats are enabled. */
export interface ProgRunStats {
  /** total ns spent in the program (run_time_ns) */
  runTimeNs: number;
  /** number of runs (run_cnt) */
  runCount: number;
}

export function progRunStats(fd: number): ProgRunStats {
  const info = objInfo(fd, 232);
  return { runTimeNs: Number(info.readBigUInt64LE(192)), runCount: Number(info.readBigUInt64LE(200)) };
}

/**
 * Instructions the verifier processed to load a program (struct
 * bpf_prog_info.verified_insns, Linux 5.16+): its cost against the
 * kernel's 1,000,000 limit. null on an older kernel (the field reads 0).
 */
export function progVerifiedInsns(fd: number): number | null {
  const n = objInfo(fd, 232).readUInt32LE(216);
  return n > 0 ? n : null;
}

const BPF_STATS_RUN_TIME = 0;

/**
 * Turn on the kernel's run-time accounting of every BPF program (the switch
 * behind sysctl kernel.bpf_stats_enabled, through BPF_ENABLE_STATS) until the
 * returned fd is closed: it costs two clock reads per program run, so it is
 * on only while something measures, and it goes off by itself if the process dies.
 */
export function enableRunTimeStats(): number {
  const fd = c.enable_stats(BPF_STATS_RUN_TIME) as number;
  if (fd < 0) bpfFail('BPF_ENABLE_STATS (run time)', fd);
  return fd;
}

/** Create an unpinned map (tests use it to fake a pin with another layout). */
export function createMap(type: number, name: string, keySize: number, valueSize: number, maxEntries: number): number {
  const fd = c.map_create(type, name, keySize, valueSize, maxEntries, null) as number;
  if (fd < 0) bpfFail(`create map ${name}`, fd);
  return fd;
}

// ---- map ops ------------------------------------------------------------

// One reusable output buffer per value size: a lookup that finds nothing (the
// common case for apply's read-before-write of a new-gen table) then allocates
// nothing. A fresh 4 KB Buffer per call cost ~3 µs, the bpf() lookup itself ~1.3 µs.
// Safe to share: koffi calls here are synchronous and nothing re-enters.
const lookupScratch = new Map<number, Buffer>();

function scratchFor(size: number): Buffer {
  let b = lookupScratch.get(size);
  if (b === undefined) {
    b = Buffer.alloc(size);
    lookupScratch.set(size, b);
  }
  return b;
}

/** Lookup into `out` (at least the map's value size). False when the key is absent (`out` then unspecified). */
export function mapLookupInto(fd: number, key: Uint8Array, out: Uint8Array): boolean {
  const r = c.lookup(fd, key, out) as number;
  if (r === -E.ENOENT) return false;
  if (r < 0) bpfFail(`map lookup (fd ${fd})`, r);
  return true;
}

/** Value (a fresh Buffer the caller owns) or null when the key is absent. */
export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null {
  const scratch = scratchFor(valueSize);
  if (!mapLookupInto(fd, key, scratch)) return null;
  const value = Buffer.allocUnsafe(valueSize);
  scratch.copy(value, 0, 0, valueSize);
  return value;
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number = BPF_ANY): void {
  const r = c.update(fd, key, value, flags) as number;
  if (r < 0) bpfFail(`map update (fd ${fd})`, r);
}

/**
 * Write only if the key is absent (BPF_NOEXIST). True: written, so the key was
 * absent when the kernel wrote it (atomically: nothing could slip in between).
 * False: the key exists and nothing was written. One bpf() call where a lookup
 * and an update took two.
 */
export function mapInsert(fd: number, key: Buffer, value: Buffer): boolean {
  const r = c.update(fd, key, value, BPF_NOEXIST) as number;
  if (r === 0) return true;
  if (r === -E.EEXIST) return false;
  return bpfFail(`map update (fd ${fd})`, r);
}

let lookupAndDeleteWorks = true;
/**
 * Delete and return the old value (a fresh Buffer) in one bpf() call
 * (BPF_MAP_LOOKUP_AND_DELETE_ELEM, hash maps since Linux 5.14); null when the
 * key was absent (nothing deleted). Where the kernel refuses the command for
 * this map type: a lookup, then a delete.
 */
export function mapTake(fd: number, key: Buffer, valueSize: number): Buffer | null {
  if (lookupAndDeleteWorks) {
    const scratch = scratchFor(valueSize);
    const r = c.lookup_and_delete(fd, key, scratch) as number;
    if (r === 0) {
      const value = Buffer.allocUnsafe(valueSize);
      scratch.copy(value, 0, 0, valueSize);
      return value;
    }
    if (r === -E.ENOENT) return null;
    if (r !== -E.EINVAL && r !== -E.ENOTSUP && r !== -(E.EOPNOTSUPP ?? 95)) bpfFail(`map lookup and delete (fd ${fd})`, r);
    lookupAndDeleteWorks = false; // an older kernel: fall through (and skip the attempt from now on)
  }
  const old = mapLookup(fd, key, valueSize);
  if (old !== null && !mapDelete(fd, key)) return null; // deleted by someone else meanwhile: we deleted nothing
  return old;
}

/** False when the key was absent. */
export function mapDelete(fd: number, key: Buffer): boolean {
  const r = c.delete_(fd, key) as number;
  if (r === -E.ENOENT) return false;
  if (r < 0) bpfFail(`map delete (fd ${fd})`, r);
  return true;
}

/** Every key (a snapshot walk with get_next_key; concurrent writes may skip or repeat keys). */
export function* mapKeys(fd: number, keySize: number): Generator<Buffer> {
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    const r = c.next_key(fd, prev, next) as number;
    if (r === -E.ENOENT) return;
    if (r < 0) bpfFail(`map get_next_key (fd ${fd})`, r);
    yield next;
    prev = next;
  }
}

/** Update many entries: one BPF_MAP_UPDATE_BATCH when the kernel has it, else a loop. */
export function mapUpdateBatch(fd: number, keys: Buffer[], values: Buffer[], flags: number = BPF_ANY): void {
  if (keys.length !== values.length) throw new RangeError('mapUpdateBatch: keys and values differ in length');
  if (keys.length === 0) return;
  if (flags === BPF_ANY) {
    const count = [keys.length];
    const r = c.update_batch(fd, Buffer.concat(keys), Buffer.concat(values), count, null) as number;
    if (r === 0) return;
    // Not supported for this map type/kernel: fall back to single updates.
    if (r !== -E.EINVAL && r !== -E.ENOTSUP && r !== -(E.EOPNOTSUPP ?? 95)) bpfFail(`map update batch (fd ${fd})`, r);
  }
  keys.forEach((k, i) => {
    mapUpdate(fd, k, values[i]!, flags);
  });
}

let cpus = 0;
/** Possible CPUs: per-CPU map values hold one slot per possible CPU. */
export function possibleCpus(): number {
  if (cpus === 0) {
    const n = c.num_cpus() as number;
    if (n < 0) bpfFail('libbpf_num_possible_cpus', n);
    cpus = n;
  }
  return cpus;
}

/** Per-CPU value: one Buffer per possible CPU (value size rounded up to 8), or null. */
export function mapLookupPerCpu(fd: number, key: Buffer, valueSize: number): Buffer[] | null {
  const stride = Math.ceil(valueSize / 8) * 8;
  const n = possibleCpus();
  const all = mapLookup(fd, key, stride * n);
  if (!all) return null;
  return Array.from({ length: n }, (_, i) => all.subarray(i * stride, i * stride + valueSize));
}

// ---- XDP ----------------------------------------------------------------

export type XdpMode = 'native' | 'generic' | 'auto';

export function ifIndex(ifname: string): number {
  const idx = c.if_nametoindex(ifname) as number;
  if (idx === 0) bpfFail(`if_nametoindex(${ifname})`, lastErrno() || E.ENODEV, { code: 'RAUTA_ERR_BPF_ATTACH' });
  return idx;
}

/**
 * Attach in native (driver) mode; 'auto' falls back to generic (skb) mode with a
 * warning through `warn`. Returns the mode used.
 */
export function xdpAttach(
  ifindex: number,
  progFd: number,
  mode: XdpMode = 'auto',
  warn: (msg: string) => void = (m) => process.emitWarning(m),
): 'native' | 'generic' {
  if (mode !== 'generic') {
    const r = c.xdp_attach(ifindex, progFd, XDP_FLAGS_DRV_MODE, null) as number;
    if (r === 0) return 'native';
    if (mode === 'native') bpfFail(`XDP attach (native) on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
    warn(`XDP native mode unavailable on ifindex ${ifindex} (${ERRNO_NAMES[-r] ?? -r}); using generic mode (slower)`);
  }
  const r = c.xdp_attach(ifindex, progFd, XDP_FLAGS_SKB_MODE, null) as number;
  if (r < 0) bpfFail(`XDP attach (generic) on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
  return 'generic';
}

/** Detach whatever XDP program is attached in either mode. */
export function xdpDetach(ifindex: number): void {
  for (const flags of [XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE]) {
    const r = c.xdp_detach(ifindex, flags, null) as number;
    if (r < 0 && r !== -E.ENOENT && r !== -E.EINVAL) bpfFail(`XDP detach on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
  }
}

const CLONE_NEWNET = 0x40000000;

/**
 * Run fn with the calling thread in the named network namespace (/var/run/netns/<name>),
 * then switch back. Network namespaces are per thread and libbpf's netlink calls
 * run on this one, so attach/detach/query inside fn act on that namespace's links.
 */
export function withNetns<T>(name: string, fn: () => T): T {
  const self = c.open('/proc/thread-self/ns/net', 0) as number;
  if (self < 0) bpfFail('open /proc/thread-self/ns/net', lastErrno() || E.ENOENT);
  try {
    const target = c.open(`/var/run/netns/${name}`, 0) as number;
    if (target < 0) bpfFail(`open network namespace ${name}`, lastErrno() || E.ENOENT, { code: 'RAUTA_ERR_BPF_ATTACH' });
    const r = c.setns(target, CLONE_NEWNET) as number;
    const err = lastErrno();
    c.close(target);
    if (r < 0) bpfFail(`setns(${name})`, err || E.EPERM, { code: 'RAUTA_ERR_BPF_ATTACH' });
    try {
      return fn();
    } finally {
      if ((c.setns(self, CLONE_NEWNET) as number) < 0) bpfFail('setns back to the original namespace', lastErrno() || E.EPERM);
    }
  } finally {
    c.close(self);
  }
}

/** Id of the attached XDP program (0 when none); mode: 'native', 'generic' or any. */
export function xdpQueryId(ifindex: number, mode?: 'native' | 'generic'): number {
  const flags = mode === 'native' ? XDP_FLAGS_DRV_MODE : mode === 'generic' ? XDP_FLAGS_SKB_MODE : 0;
  const id = [0];
  const r = c.xdp_query_id(ifindex, flags, id) as number;
  if (r < 0) bpfFail(`XDP query on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
  return id[0]!;
}

// ---- TC (clsact, direct action) -------------------------------------------

const BPF_TC_INGRESS = 1;
const BPF_TC_F_REPLACE = 1;
/** Our filter's place on the clsact hook: one handle and priority, replaced in place on restart. */
const TC_HANDLE = 0x7261; // "ra"
const TC_PRIORITY = 0x7261;

function tcHook(ifindex: number) {
  return { sz: koffi.sizeof(TcHook), ifindex, attach_point: BPF_TC_INGRESS, parent: 0 };
}

function tcOpts(progFd = 0, flags = 0) {
  return { sz: koffi.sizeof(TcOpts), prog_fd: progFd, flags, prog_id: 0, handle: TC_HANDLE, priority: TC_PRIORITY };
}

/** Attach a SEC("tc") program at the interface's ingress (clsact created if missing), replacing ours if there. */
export function tcAttachIngress(ifindex: number, progFd: number): void {
  const hook = tcHook(ifindex);
  const r = c.tc_hook_create(hook) as number;
  if (r < 0 && r !== -E.EEXIST) bpfFail(`TC clsact hook on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
  const a = c.tc_attach(hook, tcOpts(progFd, BPF_TC_F_REPLACE)) as number;
  if (a < 0) bpfFail(`TC ingress attach on ifindex ${ifindex}`, a, { code: 'RAUTA_ERR_BPF_ATTACH' });
}

/** Remove our ingress filter (other filters and the clsact qdisc stay). */
export function tcDetachIngress(ifindex: number): void {
  const r = c.tc_detach(tcHook(ifindex), tcOpts()) as number;
  if (r < 0 && r !== -E.ENOENT && r !== -E.EINVAL) bpfFail(`TC ingress detach on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
}

/** Id of our TC ingress program on the interface, 0 when none. */
export function tcQueryIngress(ifindex: number): number {
  const opts = tcOpts();
  const r = c.tc_query(tcHook(ifindex), opts) as number;
  if (r === -E.ENOENT || r === -E.EINVAL) return 0;
  if (r < 0) bpfFail(`TC ingress query on ifindex ${ifindex}`, r, { code: 'RAUTA_ERR_BPF_ATTACH' });
  return opts.prog_id;
}

// ---- BPF_PROG_TEST_RUN --------------------------------------------------

export interface TestRunResult {
  retval: number;
  dataOut: Buffer;
  /** Average ns per repetition, as the kernel measured it. */
  durationNs: number;
}

/** Run the program (XDP or TC) on one frame (BPF_PROG_TEST_RUN), `repeat` times. */
export function testRun(progFd: number, frame: Buffer, repeat = 1): TestRunResult {
  const out = Buffer.alloc(frame.length + 2048); // room for a frame the program grows (TC: a SYN-ACK into ACK + request)
  const opts = {
    sz: koffi.sizeof(TestRunOpts),
    data_in: frame,
    data_out: out,
    data_size_in: frame.length,
    data_size_out: out.length,
    ctx_in: null,
    ctx_out: null,
    ctx_size_in: 0,
    ctx_size_out: 0,
    retval: 0,
    repeat,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  };
  const r = c.test_run(progFd, opts) as number;
  if (r < 0) bpfFail(`BPF_PROG_TEST_RUN (${frame.length}-byte frame)`, r);
  return { retval: opts.retval, dataOut: Buffer.from(out.subarray(0, opts.data_size_out)), durationNs: opts.duration };
}

/** Remove a pin (ignores a missing one). */
export function unpinPath(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}

// ---- pin directory lock --------------------------------------------------

const flock = libc.func('int flock(int fd, int operation)');
const LOCK_EX = 2;
const LOCK_NB = 4;

/** flock(LOCK_EX | LOCK_NB): true when taken, false when another open file holds it (the kernel drops it when its holder dies). */
export function tryLockFd(fd: number): boolean {
  if ((flock(fd, LOCK_EX | LOCK_NB) as number) === 0) return true;
  const errno = lastErrno();
  if (errno === E.EWOULDBLOCK) return false;
  return bpfFail('flock', errno);
}
