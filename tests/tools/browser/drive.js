// SPDX-License-Identifier: MIT
// Drives a Chromium that tests/browser.test.sh started (its DevTools endpoint
// given) through puppeteer-core, and prints one JSON line per step: what the
// browser saw (status, nextHopProtocol) and what the demo page said.  It
// asserts nothing: the test compares these lines with the server's counters.
//
//   node drive.js ENDPOINT BASE visit UPLOAD_FILE
//     /, /index.php, the demo's form posted, UPLOAD_FILE uploaded
//   node drive.js ENDPOINT BASE probe LOADS TABS PAUSE_MS
//     / loaded LOADS times in one tab, then once in each of TABS new tabs,
//     PAUSE_MS between loads; the cache off, so every load is a request
//
// Every step has a timeout; the test bounds the whole run and stops the
// browser by its PID.
'use strict';

const puppeteer = require('puppeteer-core');

const STEP_MS = 15000;

function emit(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// the protocol of the connection that carried the page itself
function hopProtocol(page) {
	return page.evaluate(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		return nav ? nav.nextHopProtocol : '';
	});
}

// the demo page's table (th -> td) and its paragraphs
function demoFacts(page) {
	return page.evaluate(() => {
		const facts = {};
		for (const tr of document.querySelectorAll('table tr')) {
			const th = tr.querySelector('th');
			const td = tr.querySelector('td');
			if (th && td) facts[th.textContent.trim()] = td.textContent.trim();
		}
		facts.paragraphs = [...document.querySelectorAll('p')].map((p) => p.textContent.trim());
		return facts;
	});
}

async function step(name, page, action) {
	const t0 = Date.now();
	const response = await action();
	emit({
		step: name,
		status: response ? response.status() : 0,
		protocol: await hopProtocol(page),
		ms: Date.now() - t0,
		page: await demoFacts(page),
	});
}

// submit the form that holds SELECTOR's element by clicking its button
async function submit(page, selector) {
	const [response] = await Promise.all([
		page.waitForNavigation({ waitUntil: 'load', timeout: STEP_MS }),
		page.$eval(selector, (el) => el.form.querySelector('button').click()),
	]);
	return response;
}

async function visit(page, base, upload) {
	const go = (path) => page.goto(base + path, { waitUntil: 'load', timeout: STEP_MS });
	await step('index', page, () => go('/'));
	await step('demo', page, () => go('/index.php'));
	await step('form', page, async () => {
		await page.type('input[name=message]', 'hello from chromium');
		return submit(page, 'input[name=message]');
	});
	await step('upload', page, async () => {
		const input = await page.$('input[type=file]');
		await input.uploadFile(upload);
		return submit(page, 'input[type=file]');
	});
}

async function probe(browser, page, base, loads, tabs, pause) {
	const go = (p) => p.goto(base + '/', { waitUntil: 'load', timeout: STEP_MS });
	for (let i = 0; i < loads; i++) {
		await step('load', page, () => go(page));
		await sleep(pause);
	}
	for (let i = 0; i < tabs; i++) {
		const tab = await browser.newPage();
		await tab.setCacheEnabled(false);
		await step('tab', tab, () => go(tab));
		await tab.close();
		await sleep(pause);
	}
}

async function main() {
	const [endpoint, base, scenario, ...args] = process.argv.slice(2);
	const browser = await puppeteer.connect({
		browserWSEndpoint: endpoint,
		protocolTimeout: STEP_MS,
		defaultViewport: null,
	});
	try {
		const page = await browser.newPage();
		// a revalidated (304) load reports the cached response's protocol,
		// not the connection's: every load must be a full request
		await page.setCacheEnabled(false);
		if (scenario === 'visit') {
			await visit(page, base, args[0]);
		} else if (scenario === 'probe') {
			await probe(browser, page, base, Number(args[0]), Number(args[1]), Number(args[2]));
		} else {
			throw new Error(`unknown scenario '${scenario}' (visit or probe)`);
		}
	} finally {
		// the browser stays: the test stops it by PID
		await browser.disconnect();
	}
}

main().catch((err) => {
	emit({ step: 'error', error: String(err && err.stack || err) });
	process.exit(1);
});
