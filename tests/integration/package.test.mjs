// `make deb` (issue #13): the Debian package is built from its own build for
// /usr, lintian finds no error in it, it depends on the Debian library
// packages it links, and installing it with apt-get on this machine gives a
// working arena-node and arena-mesh, the man pages, the unit (which
// systemd-analyze verifies where it landed) and the configuration as a
// conffile; purging removes every file again. Installing needs root: skipped,
// saying so, without it. Runs in the plain build only (CMakeLists.txt).

import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {after, before, test} from 'node:test';
import {BUILD_DIR, SOURCE_DIR} from './lib/harness.mjs';

const ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const SKIP = ROOT ? false : 'installing a package needs root';
const out = mkdtempSync(join(tmpdir(), 'arena-deb-'));
let deb = null;

/*  {code, stdout, stderr} of a program, within ms. */
function sh(path, args, {ms = 120000, env} = {}) {
    return new Promise((resolve, reject) => {
        execFile(path, args, {timeout: ms, env: env ?? process.env, maxBuffer: 16 << 20}, (err, stdout, stderr) => {
            if (err && (err.killed || typeof err.code !== 'number'))
                reject(new Error(`${path} ${args.join(' ')}: ${err.message}\n${stderr}`));
            else resolve({code: err ? err.code : 0, stdout, stderr});
        });
    });
}

const installed = async () => (await sh('dpkg-query', ['-W', '-f=${Status}', 'arena-node'])).stdout;
const purge = () =>
    sh('apt-get', ['purge', '-y', '-q', 'arena-node'], {env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'}});

before(async () => {
    const r = await sh(
        'make', ['-C', SOURCE_DIR, 'deb', `DEB_BUILD=${BUILD_DIR}-deb`, `DEB_OUT=${out}`, 'JOBS=2'], {ms: 280000});
    assert.equal(r.code, 0, `make deb failed:\n${r.stdout}\n${r.stderr}`);
    const debs = readdirSync(out).filter((f) => f.endsWith('.deb'));
    assert.equal(debs.length, 1, `make deb made ${debs.join(', ') || 'nothing'}`);
    deb = join(out, debs[0]);
});
after(() => rmSync(out, {recursive: true, force: true}));

test('the package is named, described and depends as Debian wants', async () => {
    const arch = (await sh('dpkg', ['--print-architecture'])).stdout.trim();
    assert.match(deb, new RegExp(`/arena-node_\\d+\\.\\d+\\.\\d+-\\d+_${arch}\\.deb$`));
    const info = (await sh('dpkg-deb', ['-f', deb, 'Package', 'Depends', 'Section'])).stdout;
    assert.match(info, /^Package: arena-node$/m);
    const depends = info.match(/^Depends: (.*)$/m)?.[1] ?? '';
    for (const lib
             of ['libczmq4', 'libzmq5', 'libmsgpackc2', 'libwebsockets17', 'libmicrohttpd12', 'libsodium23',
                 'libsqlite3-0', 'libjansson4', 'libcurl4', 'libc6'])
        assert.ok(new RegExp(`(^|, )${lib} \\(>= [^)]+\\)`).test(depends), `Depends lacks ${lib}: ${depends}`);
    const files = (await sh('dpkg-deb', ['-c', deb])).stdout;
    for (const f
             of ['./usr/bin/arena-node', './usr/bin/arena-mesh', './usr/share/man/man1/arena-node.1.gz',
                 './usr/share/man/man1/arena-mesh.1.gz', './lib/systemd/system/arena-node.service',
                 './etc/arena-node/arena-node.jsonc', './usr/share/doc/arena-node/copyright',
                 './usr/share/doc/arena-node/changelog.Debian.gz'])
        assert.ok(files.split('\n').some((l) => l.endsWith(` ${f}`)), `the package lacks ${f}`);
});

test('lintian reports no error', async () => {
    const r = await sh('lintian', ['--fail-on', 'error', deb], {ms: 240000});
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E: '));
    assert.deepEqual(errors, [], `lintian:\n${r.stdout}${r.stderr}`);
    assert.equal(r.code, 0, `lintian exited ${r.code}:\n${r.stdout}${r.stderr}`);
});

test('installed with apt-get it works, purged it is gone', {skip: SKIP}, async (t) => {
    if ((await installed()).includes('installed')) await purge(); // a run cut short before
    t.after(async () => {
        if ((await installed()).includes('installed')) await purge();
    });
    const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'};
    const inst = await sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', deb], {env, ms: 240000});
    assert.equal(inst.code, 0, `apt-get install:\n${inst.stdout}\n${inst.stderr}`);
    assert.match(await installed(), /install ok installed/);

    const v = await sh('/usr/bin/arena-node', ['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^arena-node \d+\.\d+\.\d+/);
    const h = await sh('/usr/bin/arena-mesh', ['--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /arena-mesh status/);
    const man = await sh('man', ['-w', 'arena-node']);
    assert.equal(man.stdout.trim(), '/usr/share/man/man1/arena-node.1.gz');
    const conf = (await sh('dpkg-query', ['-W', '-f=${Conffiles}', 'arena-node'])).stdout;
    assert.match(conf, /\/etc\/arena-node\/arena-node\.jsonc [0-9a-f]{32}/);
    const verify = await sh('systemd-analyze', ['verify', '/lib/systemd/system/arena-node.service']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr, '', `systemd-analyze verify warns:\n${verify.stderr}`);

    const gone = await purge();
    assert.equal(gone.code, 0, `apt-get purge:\n${gone.stdout}\n${gone.stderr}`);
    assert.doesNotMatch(await installed(), /installed/);
    for (const f
             of ['/usr/bin/arena-node', '/usr/bin/arena-mesh', '/usr/share/man/man1/arena-node.1.gz',
                 '/lib/systemd/system/arena-node.service', '/etc/arena-node', '/usr/share/doc/arena-node'])
        assert.ok(!existsSync(f), `${f} is left after purge`);
});
