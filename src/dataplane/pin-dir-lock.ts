// One owner per pin directory. Two agents (`run`, `agent`) on the same --pin-dir
// would overwrite each other's maps and then "repair drift" against each other
// for ever. The first process to claim a pin directory holds an exclusive flock
// on the directory itself, on bpffs, for as long as it runs: the kernel records
// the holder's pid (/proc/locks, which names it to a second process) and drops
// the lock when the holder dies however it dies, so a lock is taken over from a
// dead owner and only from one, with no stale lock file to clean up. Checked
// first, in the order an operator fixes them: the BPF object is built, the
// name is one bpffs accepts (no dots), the directory is on bpffs.
import { existsSync, openSync, closeSync, readFileSync, statSync, constants } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { RautaError } from '../errors.js';
import { printable } from '../routes/printable.js';
import { ensurePinDir, onBpffs, tryLockFd } from './libbpf.js';

export interface PinDirLock {
  pinDir: string;
  /** Drops the lock (closing the directory fd); safe to call twice. */
  release(): void;
}

/** bpffs refuses names with a dot (EPERM, which reads like "run as root"): say so before trying. */
export function checkPinDirName(pinDir: string): void {
  const full = resolve(pinDir);
  let existing = full;
  while (!existsSync(existing)) existing = dirname(existing);
  if (!onBpffs(existing)) return; // the not-on-bpffs error says what to do
  const created = full.slice(existing.length).split(sep).filter(Boolean);
  const dotted = created.find((part) => part.includes('.'));
  if (dotted !== undefined) {
    const fixed = [existing === sep ? '' : existing, ...created.map((part) => part.replace(/\./g, '-'))].join(sep);
    throw new RautaError(
      'RAUTA_ERR_USAGE',
      `--pin-dir ${printable(pinDir)}: bpffs does not allow "." in names ("${printable(dotted)}"); use a name without one, e.g. ${printable(fixed)}`,
    );
  }
}

/** Claims `pinDir` for this process, creating it on bpffs; throws RAUTA_ERR_BPF_PIN_DIR_BUSY naming the owner. */
export function claimPinDir(pinDir: string, objectPath: string): PinDirLock {
  if (!existsSync(objectPath)) throw new RautaError('RAUTA_ERR_BPF_LOAD', `${objectPath} does not exist: build it with: make -C bpf`);
  checkPinDirName(pinDir);
  ensurePinDir(pinDir);
  const fd = openSync(pinDir, constants.O_RDONLY | constants.O_DIRECTORY);
  let taken = false;
  try {
    taken = tryLockFd(fd);
  } finally {
    if (!taken) closeSync(fd);
  }
  if (!taken) {
    throw new RautaError(
      'RAUTA_ERR_BPF_PIN_DIR_BUSY',
      `pin directory ${printable(pinDir)} is owned by ${describeOwner(pinDir)}: it loads and writes the maps there. ` +
        'Stop that process, or give this one another --pin-dir (one pin directory per node agent)',
    );
  }
  let open = true;
  return {
    pinDir,
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** "pid 1234 (node bin/rauta.js run ...)" from /proc/locks, or what can be said without it. */
export function describeOwner(pinDir: string): string {
  const pid = lockHolderPid(pinDir);
  if (pid === null) return 'another process';
  if (pid <= 0) return 'a process in another PID namespace (a container)';
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    /* gone meanwhile, or not visible */
  }
  return `pid ${pid}${cmd ? ` (${printable(cmd.length > 160 ? `${cmd.slice(0, 160)}…` : cmd)})` : ''}`;
}

/** Pid of the FLOCK holder of `path` in /proc/locks (0 when it is outside our PID namespace), null when none is listed. */
function lockHolderPid(path: string): number | null {
  let st;
  let locks;
  try {
    st = statSync(path);
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  // Linux new_encode_dev: minor's low 8 bits, then major, then minor's high bits.
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  for (const line of locks.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 10402 00:28:38677 0 EOF"
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (m && Number.parseInt(m[2]!, 16) === major && Number.parseInt(m[3]!, 16) === minor && Number(m[4]) === st.ino) return Number(m[1]);
  }
  return null;
}
