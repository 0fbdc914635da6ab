// ArenaMesh link, Manifest V3 extension: the service worker.
//
// In the browser arena-node starts itself (--browser; MANAGED is 'on') it
// keeps TABS tabs open on the arena origin and reloads a tab that has had no
// link to the node, or has shown a challenge, for STUCK_MS (relay.js reports
// each tab's state every 10 s; an alarm checks at least every 30 s, so a tab
// whose page never ran the extension's scripts — an error page — is seen
// too). Installed by hand in a person's own browser (MANAGED 'off') it does
// nothing: the tabs are the person's.
'use strict';

const ORIGIN = '__ARENA_ORIGIN__';
const MANAGED = '__ARENA_MANAGED__' === 'on';
const TABS = Math.max(1, Number('__ARENA_TABS__') || 1);
const STUCK_MS = Math.max(10000, Number('__ARENA_STUCK_MS__') || 120000);
const ALARM = 'arenamesh-watch';
const START_GRACE_MS = 3000; // the tabs of the browser's command line appear first
const topUpAfter = Date.now() + START_GRACE_MS;

// tab id → {goodAt: last time it was linked and clear (or loaded, or first
// seen), linked, challenge}. A restarted worker starts everyone afresh.
const tabs = new Map();

function entry(id, now) {
    let e = tabs.get(id);
    if (!e) {
        e = {goodAt: now, linked: false, challenge: false};
        tabs.set(id, e);
    }
    return e;
}

function onOrigin(t) {
    const url = t.url || t.pendingUrl || '';
    return url === ORIGIN || url.startsWith(ORIGIN + '/');
}

async function checkNow() {
    const now = Date.now();
    // every tab, counted by its URL or, while it loads, the URL it is going to
    // (a query by url misses a tab that has not committed yet)
    const open = (await chrome.tabs.query({})).filter(onOrigin);
    const seen = new Set();
    for (const t of open) {
        seen.add(t.id);
        const e = entry(t.id, now);
        if (e.linked && !e.challenge) e.goodAt = now;
        if (now - e.goodAt >= STUCK_MS) {
            console.warn(
                'ArenaMesh: tab ' + t.id + (e.challenge ? ' shows a challenge' : ' has no link') + ' for ' +
                Math.round((now - e.goodAt) / 1000) + ' s: reloading it');
            e.goodAt = now; // it gets STUCK_MS again after the reload
            await chrome.tabs.reload(t.id).catch(() => {});
        }
    }
    for (const id of tabs.keys()) {
        if (!seen.has(id)) tabs.delete(id);
    }
    if (now < topUpAfter) return;
    for (let i = open.length; i < TABS; i++) {
        const t = await chrome.tabs.create({url: ORIGIN + '/', active: false}).catch(() => null);
        if (t) entry(t.id, Date.now());
    }
}

// One check at a time: two at once would both open the missing tabs.
let checking = Promise.resolve();
function check() {
    if (!MANAGED) return checking;
    checking = checking.then(checkNow).catch(() => {});
    return checking;
}

chrome.runtime.onMessage.addListener((msg, sender) => {
    if (!msg || msg.type !== 'arenamesh-tab' || !sender.tab) return;
    const now = Date.now();
    const e = entry(sender.tab.id, now);
    e.linked = msg.linked === true;
    e.challenge = msg.challenge === true;
    if (e.linked && !e.challenge) e.goodAt = now;
    check();
});

chrome.tabs.onRemoved.addListener(() => check());
chrome.tabs.onUpdated.addListener((id, info) => {
    // a page that (re)loads has STUCK_MS to link
    if (info.status === 'loading' && tabs.has(id)) tabs.get(id).goodAt = Date.now();
});
chrome.alarms.onAlarm.addListener((a) => {
    if (a.name === ALARM) check();
});
chrome.runtime.onStartup.addListener(() => check());
chrome.runtime.onInstalled.addListener(() => check());

if (MANAGED) {
    chrome.alarms.create(ALARM, {periodInMinutes: 0.5});
    setTimeout(check, START_GRACE_MS + 100);
}
