/**
 * Joins its stdin and stdout to a TCP connection to `<host> <port>`: run inside a viewer namespace, it
 * lets the test process reach a port on that namespace's loopback (Firefox's WebDriver BiDi socket).
 */
import { connect } from 'node:net';

const [host, port] = process.argv.slice(2);
const socket = connect(Number(port), host!);
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('close', () => process.exit(0));
socket.on('error', (error) => {
  process.stderr.write(`relay to ${host}:${port}: ${error.message}\n`);
  process.exit(1);
});
