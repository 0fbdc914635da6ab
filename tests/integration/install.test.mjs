// `make install` (issue #13): the two programs, their man pages, the systemd
// unit and the default configuration land under PREFIX, staged in a DESTDIR
// this test makes; what landed works: the programs run, the man pages are
// clean roff that name every flag, the unit passes `systemd-analyze verify`
// and points at what was installed, and the node starts on the shipped
// configuration. PREFIX is the build's own (read from its CMakeCache), so
// the install reconfigures nothing.

import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {after, before, test} from 'node:test';
import {Arena, BUILD_DIR, http, run, SOURCE_DIR} from './lib/harness.mjs';

const cache = readFileSync(join(BUILD_DIR, 'CMakeCache.txt'), 'utf8');
const PREFIX = cache.match(/^CMAKE_INSTALL_PREFIX:PATH=(.*)$/m)[1];
const SYSCONF = PREFIX === '/usr' ? '/etc' : `${PREFIX}/etc`; // GNUInstallDirs
const stage = mkdtempSync(join(tmpdir(), 'arena-install-'));
const at = (p) => join(stage, p);

before(async () => {
    const r = await run(
        'make', ['-C', SOURCE_DIR, 'install', `BUILD=${BUILD_DIR}`, `PREFIX=${PREFIX}`, `DESTDIR=${stage}`, 'JOBS=2'],
        240000);
    assert.equal(r.code, 0, `make install failed:\n${r.stdout}\n${r.stderr}`);
});
after(() => rmSync(stage, {recursive: true, force: true}));

const PAGES = [`${PREFIX}/share/man/man1/arena-node.1`, `${PREFIX}/share/man/man1/arena-mesh.1`];
const UNIT = `${PREFIX}/lib/systemd/system/arena-node.service`;
const CONFIG = `${SYSCONF}/arena-node/arena-node.jsonc`;

test('the programs land under PREFIX/bin and run', async () => {
    for (const prog of ['arena-node', 'arena-mesh']) accessSync(at(`${PREFIX}/bin/${prog}`), constants.X_OK);
    const v = await run(at(`${PREFIX}/bin/arena-node`), ['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^arena-node \d+\.\d+\.\d+/);
    const h = await run(at(`${PREFIX}/bin/arena-mesh`), ['--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /arena-mesh status/);
});

test('the man pages are clean roff and name every flag of --help', async () => {
    for (const page of PAGES) {
        const text = readFileSync(at(page), 'utf8');
        assert.ok(/^[\t\n\x20-\x7e]*$/.test(text), `${page} is not plain ASCII roff`);
        for (const sec of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SEE ALSO'])
            assert.ok(text.includes(`.SH ${sec}\n`), `${page} has no ${sec} section`);
        // groff with every warning: nothing to say
        const lint = await run('groff', ['-man', '-Tutf8', '-ww', '-z', at(page)]);
        assert.equal(lint.code, 0);
        assert.equal(lint.stderr, '', `groff warns about ${page}`);
    }
    const help = (await run(at(`${PREFIX}/bin/arena-node`), ['--help'])).stdout;
    const flags = [...new Set(help.match(/--[a-z][a-z0-9-]+/g))];
    assert.ok(flags.length > 30, `only ${flags.length} flags in --help`);
    const page = readFileSync(at(PAGES[0]), 'utf8');
    for (const f of flags) assert.ok(page.includes(f), `arena-node.1 lacks ${f}`);
});

test('the systemd unit passes systemd-analyze verify and runs what was installed', async () => {
    const unit = readFileSync(at(UNIT), 'utf8');
    const exec = unit.match(/^ExecStart=(\S+)(.*)$/m);
    assert.ok(exec, 'no ExecStart');
    assert.equal(exec[1], `${PREFIX}/bin/arena-node`);
    assert.ok(exec[2].includes(`--config ${CONFIG}`), `ExecStart does not read ${CONFIG}: ${exec[2]}`);
    assert.ok(exec[2].includes('--data /var/lib/arena-node'), exec[2]);
    for (const line
             of ['DynamicUser=yes', 'StateDirectory=arena-node', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
                 'PrivateTmp=yes', 'Restart=on-failure'])
        assert.ok(unit.split('\n').includes(line), `the unit lacks ${line}`);
    assert.match(unit, /^RestrictAddressFamilies=.*AF_INET6/m);
    const stop = Number(unit.match(/^TimeoutStopSec=(\d+)$/m)?.[1]);
    assert.ok(stop > 2.5 && stop <= 30, `TimeoutStopSec=${stop}: longer than the 2.5 s drain, not forever`);

    // verify needs ExecStart to exist: the staged copy, same unit otherwise
    const dir = mkdtempSync(join(tmpdir(), 'arena-unit-'));
    try {
        const copy = join(dir, 'arena-node.service');
        writeFileSync(copy, unit.replace(/^ExecStart=\S+/m, `ExecStart=${at(`${PREFIX}/bin/arena-node`)}`));
        // Documentation=man:… is checked with the staged pages; verify exits 0
        // on unknown keys and bad values, it only warns: no warning at all
        const env = {...process.env, MANPATH: at(`${PREFIX}/share/man`)};
        const v = await runEnv('systemd-analyze', ['verify', copy], env);
        assert.equal(v.code, 0, `systemd-analyze verify failed:\n${v.stdout}\n${v.stderr}`);
        assert.equal(v.stderr, '', `systemd-analyze verify warns:\n${v.stderr}`);
        const sec = (await run('systemd-analyze', ['security', '--offline=true', copy])).stdout;
        const level = Number(sec.match(/Overall exposure level for arena-node\.service: ([\d.]+)/)?.[1]);
        assert.ok(level <= 2.0, `exposure ${level} (systemd-analyze security): the hardening slipped\n${sec}`);
    } finally {
        rmSync(dir, {recursive: true, force: true});
    }
});

test('a node starts on the shipped configuration', async (t) => {
    assert.ok(existsSync(at(CONFIG)), `no ${CONFIG}`);
    const arena = new Arena();
    t.after(() => arena.cleanup());
    // the file's addresses are the defaults; the harness's flags move them to free ports
    const node = await arena.startNode({extraArgs: ['--config', at(CONFIG)]});
    const r = await http(node, 'GET', '/health');
    assert.equal(r.status, 200);
});

/*  {code, stdout, stderr} of a program run with env, within 15 s. */
function runEnv(path, args, env) {
    return new Promise((resolve, reject) => {
        execFile(path, args, {env, timeout: 15000}, (err, stdout, stderr) => {
            if (err && err.killed) reject(new Error(`${path}: no exit within 15 s`));
            else resolve({code: err ? err.code : 0, stdout, stderr});
        });
    });
}
