// ns-relay: run inside a network namespace (`ip netns exec NS node ns-relay.mjs
// SOCKET PORT`), it accepts connections on the Unix socket SOCKET — a file,
// reachable from any namespace — and pipes each to 127.0.0.1:PORT of the
// namespace it runs in. netns.mjs pairs it with a TCP listener in the test's
// own namespace, so the test reaches a node's loopback HTTP port without any
// address of the test's namespace being routed into the test network.
// Prints `ns-relay ready` once listening; exits on SIGTERM (the harness
// SIGKILLs it if the test process itself exits first).

import net from 'node:net';
import {rmSync} from 'node:fs';

const [path, port] = process.argv.slice(2);
if (!path || !Number(port)) {
    console.error('usage: ns-relay.mjs SOCKET PORT');
    process.exit(2);
}

const server = net.createServer((down) => {
    const up = net.connect(Number(port), '127.0.0.1');
    const cut = () => {
        down.destroy();
        up.destroy();
    };
    down.on('error', cut);
    up.on('error', cut);
    down.pipe(up);
    up.pipe(down);
});
rmSync(path, {force: true});
server.listen(path, () => console.log('ns-relay ready'));
const quit = () => {
    server.close();
    rmSync(path, {force: true});
    process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
