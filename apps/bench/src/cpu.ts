/**
 * CPU time per task, beside each throughput: how much CPU the system's server side spent (PrismQ's
 * server process, Redis, or PostgreSQL's processes) and how much this benchmark process spent (it
 * runs the producers and the workers of every system, and autocannon for PrismQ's raw HTTP rows),
 * over the measured part of a scenario, divided by the tasks it measured.
 *
 * Where the server side's CPU is read from:
 * - PrismQ's server: its process's user + system time, from /proc (`server.cpuMs()`).
 * - Redis: `INFO cpu`, `used_cpu_user` + `used_cpu_sys` and the same of its reaped children (AOF
 *   rewrites), which also works for a Redis on another host.
 * - PostgreSQL: the sum over every process named `postgres` on this machine, read from /proc,
 *   plus the children's time the postmaster has collected: backends come and go (a pool opens
 *   and closes connections), and an ended backend's time moves into its parent's `cutime` and
 *   `cstime` once reaped, so the sum stays whole. It is machine-wide, so it also counts whatever
 *   else uses that PostgreSQL meanwhile; and it is unknown (NaN) for a server on another host.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

/** Cumulative CPU time of a system's server side, ms; NaN where it cannot be read. */
export type ServerCpu = () => number | Promise<number>;

/** CPU time per task of one scenario, ms: the server side's and this process's. */
export interface CpuPerTask {
  server: number;
  client: number;
}

/** User plus system CPU time of this process so far, ms. */
export function clientCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux build in use. */
const TICK_MS = 10;

/** The fields of /proc/<pid>/stat after the command name, and the name; undefined if it is gone. */
function procStat(pid: string): { name: string; fields: string[] } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    return { name: stat.slice(open + 1, close), fields: stat.slice(close + 2).split(' ') };
  } catch {
    return undefined;
  }
}

/**
 * CPU time of every process named `postgres` on this machine, ms, with the time of the children
 * they have reaped (see the top of this file); NaN if there is no such process or no /proc.
 */
export function postgresCpuMs(): number {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return NaN;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    const stat = procStat(pid);
    if (stat?.name !== 'postgres') continue;
    found = true;
    // utime, stime, cutime, cstime: fields 14-17 of stat, 11-14 after the name.
    ticks += Number(stat.fields[11]) + Number(stat.fields[12]) + Number(stat.fields[13]) + Number(stat.fields[14]);
  }
  return found ? ticks * TICK_MS : NaN;
}

/** Whether the host of `url` is this machine, so that its server's processes are in /proc. */
export function isLocal(url: string): boolean {
  try {
    const { hostname } = new URL(url);
    return ['', 'localhost', '127.0.0.1', '[::1]', '::1'].includes(hostname);
  } catch {
    return false;
  }
}

/** Redis's own CPU time, ms, from an `INFO cpu` reply (its process and its reaped children). */
export function redisCpuMs(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys') + field('used_cpu_user_children') + field('used_cpu_sys_children')) * 1000;
}

interface Sample {
  server: number;
  client: number;
}

/** Both readings at one moment: this process's at once, the server side's as it arrives. */
async function sample(server: ServerCpu): Promise<Sample> {
  const client = clientCpuMs();
  return { client, server: await server() };
}

/**
 * The measured part of one scenario, for CPU per task: the scenario calls `start()` where its
 * measurement starts and `end(tasks)` where it ends (`throughput()` does both for its loops);
 * `perTask()` then gives the CPU per task, or undefined if the window was not both started and
 * ended. The readings are taken at the calls, without holding up the caller.
 */
export class CpuWindow {
  private begin: Promise<Sample> | undefined;
  private finish: Promise<Sample> | undefined;
  private tasks = 0;

  constructor(private readonly server: ServerCpu) {}

  start(): void {
    this.begin = sample(this.server);
  }

  end(tasks: number): void {
    this.finish ??= sample(this.server);
    this.tasks = tasks;
  }

  async perTask(): Promise<CpuPerTask | undefined> {
    if (!this.begin || !this.finish || this.tasks <= 0) return undefined;
    const [begin, finish] = await Promise.all([this.begin, this.finish]);
    return { server: (finish.server - begin.server) / this.tasks, client: (finish.client - begin.client) / this.tasks };
  }
}

let gc: (() => void) | undefined;

/**
 * A full garbage collection of this process, before each scenario of every system, so that no
 * scenario pays (in time, tail latency or CPU) for the garbage its predecessors left. Uses
 * `globalThis.gc` when node runs with `--expose-gc` (as `pnpm bench` starts it); otherwise
 * exposes it at run time (V8's flag, then `gc` from a fresh context).
 */
export function collectGarbage(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
}
