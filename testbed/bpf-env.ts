// Gate for tests that need the kernel. With RAUTA_REQUIRE_BPF=1 (CI, scripts/test.sh)
// a missing capability is a failure, never a skip.
import type { TestContext } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';

export function bpfRequired(): boolean {
  return process.env.RAUTA_REQUIRE_BPF === '1';
}

/** Why BPF tests cannot run here, or null when they can. */
export function bpfUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root (BPF needs CAP_BPF and CAP_NET_ADMIN)';
  let mounted = false;
  try {
    mounted = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[2] === 'bpf');
  } catch {
    return 'cannot read /proc/mounts';
  }
  if (!mounted) return 'bpffs is not mounted (mount -t bpf bpf /sys/fs/bpf)';
  if (!existsSync(new URL('../bpf/rauta.bpf.o', import.meta.url))) return 'bpf/rauta.bpf.o is not built (make -C bpf)';
  return null;
}

/** Call first in a BPF test: fails under RAUTA_REQUIRE_BPF=1, skips otherwise. Returns false when skipped. */
export function needBpf(t: TestContext): boolean {
  const reason = bpfUnavailableReason();
  if (reason === null) return true;
  if (bpfRequired()) throw new Error(`BPF required (RAUTA_REQUIRE_BPF=1) but unavailable: ${reason}`);
  t.skip(`BPF unavailable: ${reason}`);
  return false;
}
