// The operator tool `arena-mesh` against a real node.

import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {Arena, binary, closedPort, http, run} from './lib/harness.mjs';

const arena = new Arena();
let node;
let link;
let mesh;

before(async () => {
    ({node, link} = await arena.startPair({name: 'tools-node'}, {tabs: 1}, 'fake-image'));
    mesh = binary('arena-mesh');
});
after(() => arena.cleanup());

arena.test('arena-mesh status prints the node, alive', async () => {
    const r = await run(mesh, ['status', '--node', node.baseURL]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('tools-node'), r.stdout);
    assert.ok(r.stdout.includes('alive'), r.stdout);
});

arena.test('arena-mesh status --json is the status document', async () => {
    const r = await run(mesh, ['status', '--node', node.baseURL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.nodes.length, 1);
    assert.equal(doc.nodes[0].self, true);
    assert.equal(doc.nodes[0].name, 'tools-node');
    assert.equal(doc.nodes[0].state, 'alive');
});

arena.test('arena-mesh models lists the tab\'s models', async () => {
    const r = await run(mesh, ['models', '--node', node.baseURL]);
    assert.equal(r.code, 0, r.stderr);
    for (const m of ['fake-chat', 'fake-chat-2', 'fake-image', 'fake-search']) {
        assert.ok(r.stdout.includes(m), `${m} missing:\n${r.stdout}`);
    }
    const j = await run(mesh, ['models', '--node', node.baseURL, '--json']);
    assert.equal(j.code, 0, j.stderr);
    const text = JSON.stringify(JSON.parse(j.stdout));
    assert.ok(text.includes('fake-chat') && text.includes('fake-image'), text);
});

arena.test('arena-mesh against a closed port → exit 2 naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const cmd of ['status', 'models']) {
        const r = await run(mesh, [cmd, '--node', url]);
        assert.equal(r.code, 2, `${cmd}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        assert.ok((r.stderr + r.stdout).includes(url), `${cmd} names ${url}:\n${r.stderr}`);
    }
});

arena.test('arena-mesh models --refresh: the tab is asked for its page again, the catalog is newer', async () => {
    const before = JSON.parse((await http(node, 'GET', '/mesh/status')).text).nodes[0].catalog_updated_ms;
    const pagesBefore = link.poll().filter((e) => e.ev === 'page').length;
    const r = await run(mesh, ['models', '--node', node.baseURL, '--refresh']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('fake-chat'), r.stdout);
    const after = JSON.parse((await http(node, 'GET', '/mesh/status')).text).nodes[0].catalog_updated_ms;
    assert.ok(after > before, `catalog time ${before} → ${after}`);
    assert.ok(link.poll().filter((e) => e.ev === 'page').length > pagesBefore, 'a new page request');
});

arena.test('arena-mesh models --refresh with no tab connected → exit 2, says so', async () => {
    const lonely = await arena.startNode({name: 'lonely-node'});
    const r = await run(mesh, ['models', '--node', lonely.baseURL, '--refresh']);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /no browser tab is connected/);
});
