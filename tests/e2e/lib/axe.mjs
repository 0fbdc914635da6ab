// axe-core (npm) over a dashboard page in Chromium: the accessibility check
// of issue #12 — no violation of impact serious or critical.

import assert from 'node:assert/strict';
import {createRequire} from 'node:module';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/*  axe-core over `context` (a selector; default the whole page as it is —
    hidden views are not checked): fails naming each serious or critical
    violation and where it is. */
export async function axeCheck(page, what, context = null) {
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({path: AXE});
    const found = await page.evaluate(async (ctx) => {
        const res = await window.axe.run(ctx ?? document, {resultTypes: ['violations']});
        return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }, context);
    assert.deepEqual(found, [], `axe on the ${what} view:\n${found.join('\n')}`);
}
