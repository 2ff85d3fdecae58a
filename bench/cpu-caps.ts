import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

/**
 * CPU caps for measuring scale-out on a small machine. "Two nodes with the database on cores of
 * its own" cannot be run on two cores shared by the nodes, the database and the load, but it can
 * be run in miniature: the database server capped at one core, each node at a fraction of one,
 * so that the nodes are the limit and a second node has CPU of its own to add. The caps are CFS
 * quotas of the cgroup v1 cpu controller (root on this machine kind); where it is not writable,
 * or the database server does not run on this machine, the bench says so and skips the rows.
 */
const ROOT = '/sys/fs/cgroup/cpu';
/** A short period, so a capped process waits at most a few milliseconds for its next share (a node throttled for 70 ms of a 100 ms period while holding row locks would stall the other node). */
const PERIOD_US = 5_000;

export interface CpuCaps {
  /** Cap processes `pids` together (and every process they fork afterwards) at `cores`, in a group of their own. */
  cap(pids: readonly number[], cores: number): void;
  /** Give every capped process back to the group it came from and remove the groups (again after more caps; nothing to do twice). */
  release(): void;
}

/** Caps, or why there are none here. */
export function cpuCaps(): CpuCaps | string {
  if (!existsSync(`${ROOT}/cgroup.procs`)) return `no cgroup v1 cpu controller at ${ROOT}`;
  const groups: { dir: string; from: string }[] = [];
  const release = () => {
    for (const g of groups.splice(0)) {
      // Everything in the group now (the capped process and whatever it forked since) goes back.
      for (const pid of readFileSync(`${g.dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(`${ROOT}${g.from}/cgroup.procs`, pid);
        } catch {
          // It exited meanwhile.
        }
      }
      try {
        rmdirSync(g.dir);
      } catch {
        // A process that was still forking; the empty group is removed by the next run's sweep.
      }
    }
  };
  // Groups of an earlier run that died before releasing them (their processes were given back, or are gone).
  for (const name of readdirSync(ROOT)) {
    if (!name.startsWith('honeytrail-bench-')) continue;
    try {
      rmdirSync(`${ROOT}/${name}`);
    } catch {
      // Not empty: leave it.
    }
  }
  try {
    const probe = `${ROOT}/honeytrail-bench-${process.pid}-probe`;
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (err) {
    return `cannot make cgroups under ${ROOT} (${(err as Error).message})`;
  }
  // A bench that stops early must not leave the database server capped.
  process.once('exit', release);
  return {
    cap(pids, cores) {
      const dir = `${ROOT}/honeytrail-bench-${process.pid}-${groups.length}`;
      mkdirSync(dir);
      groups.push({ dir, from: cpuGroupOf(pids[0] ?? process.pid) });
      writeFileSync(`${dir}/cpu.cfs_period_us`, String(PERIOD_US));
      writeFileSync(`${dir}/cpu.cfs_quota_us`, String(Math.round(cores * PERIOD_US)));
      for (const pid of pids) writeFileSync(`${dir}/cgroup.procs`, String(pid));
    },
    release,
  };
}

/** The cpu controller's group of `pid` (`/` for the root), from /proc/PID/cgroup. */
function cpuGroupOf(pid: number): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers?.split(',').includes('cpu')) return path === '/' ? '' : (path ?? '');
  }
  return '';
}

/**
 * The database server's own processes on this machine, from one of its backends: the postmaster
 * (the backend's parent), which every backend and worker it starts later is forked from, and the
 * ones it runs now. Null when the server is not a local process.
 */
export function serverProcesses(backendPid: number): number[] | null {
  const parentOf = (pid: number): number | null => {
    const ppid = procStat(pid)?.[1];
    return ppid === undefined ? null : Number(ppid);
  };
  const postmaster = parentOf(backendPid);
  if (postmaster === null || !readFileSync(`/proc/${postmaster}/comm`, 'utf8').startsWith('postgres')) return null;
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => parentOf(pid) === postmaster);
  return [postmaster, ...children];
}

/**
 * The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses):
 * state first, then the parent's pid, … utime and stime at 11 and 12. Null once the process is gone.
 */
export function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
