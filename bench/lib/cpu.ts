// CPU time as the kernel accounts it: the whole machine (/proc/stat) and single
// processes (/proc/<pid>/stat), for "CPU time per request" figures.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc/stat and /proc/<pid>/stat times. */
export const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_S;

/**
 * Busy time of all CPUs together, in ticks: user + nice + system + irq +
 * softirq (guest time is inside user). Idle, iowait and steal (time the
 * hypervisor gave to someone else) are not busy.
 */
export function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq] = f as [number, number, number, number, number, number, number];
  return user + nice + system + irq + softirq;
}

/** utime + stime of one process (all its threads), in ticks; 0 when it is gone. */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
  } catch {
    return 0;
  }
}

/** Pids whose parent is `ppid`. */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppidField = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppidField === ppid) out.push(Number(name));
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}
