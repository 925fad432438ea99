/**
 * What /proc tells about a process: its CPU time and the datagrams the kernel dropped on its UDP sockets
 * because their receive buffers were full. Per socket, not the machine's Udp RcvbufErrors: other
 * developers' processes share this network namespace.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux for every architecture Node runs on). */
const USER_HZ = 100;

/** utime + stime of a process in µs (fields 14 and 15 of /proc/<pid>/stat), or undefined if it is gone. */
export function processCpuUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** CPU time the whole machine spent idle (idle + iowait of /proc/stat), µs: other people's load shows here. */
export function machineIdleUs(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    return ((Number(fields[4]) + Number(fields[5])) * 1e6) / USER_HZ;
  } catch {
    return undefined;
  }
}

interface UdpSocket {
  port: number;
  inode: number;
  drops: number;
}

function udpSockets(): UdpSocket[] {
  const sockets: UdpSocket[] = [];
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      const fields = line.trim().split(/\s+/);
      if (fields.length < 13) continue;
      sockets.push({
        port: Number.parseInt(fields[1]!.split(':')[1]!, 16),
        inode: Number(fields[9]),
        drops: Number(fields[12]),
      });
    }
  }
  return sockets;
}

/** Drops summed over the UDP sockets bound to these local ports (the generator's viewers). */
export function dropsOnPorts(ports: Set<number>): number {
  return udpSockets().reduce((sum, socket) => sum + (ports.has(socket.port) ? socket.drops : 0), 0);
}

/** Drops on a process's UDP sockets (the server: its ingest socket from ffmpeg and its viewers'), by local port. */
export function dropsOfProcess(pid: number): Map<number, number> | undefined {
  const inodes = new Set<number>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(Number(match[1]));
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return undefined;
  }
  const drops = new Map<number, number>();
  for (const socket of udpSockets()) {
    if (inodes.has(socket.inode)) drops.set(socket.port, (drops.get(socket.port) ?? 0) + socket.drops);
  }
  return drops;
}
