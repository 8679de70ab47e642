// Browser test of the Temporal Web UI of the local stack, run by
// integration/webui_test.go (`go test -run WebUI ./integration/`).
//
//   node e2e/webui.mjs start   fills the UI's "Start a Workflow" form and submits it
//   node e2e/webui.mjs check   opens the finished workflow's page, checks its status
//                              and result, and saves a full-page screenshot
//   node e2e/webui.mjs find    the same, reaching the page from the workflows list
//                              filtered to finished workflows of WORKFLOW_TYPE
//
// Configuration comes from the environment:
//   WEBUI_URL        the Web UI, e.g. http://127.0.0.1:18233
//   WEBUI_NAMESPACE  the namespace (default "default")
//   WORKFLOW_ID      the workflow's ID
//   WORKFLOW_RUN_ID  its run ID (check only)
//   TASK_QUEUE, WORKFLOW_TYPE, WORKFLOW_INPUT   the form's fields (start only)
//   EXPECT_TEXT      newline-separated strings the result must contain (check only)
//   SCREENSHOT       where to save the screenshot (check; start saves one beside it on failure)
//   CHROMIUM         the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (name, def) => {
  const v = process.env[name] ?? def;
  if (v === undefined || v === '') throw new Error(`webui.mjs: set ${name}`);
  return v;
};
const mode = process.argv[2];
const url = env('WEBUI_URL').replace(/\/$/, '');
const ns = env('WEBUI_NAMESPACE', 'default');
const workflowId = env('WORKFLOW_ID');
const screenshot = env('SCREENSHOT');
const timeout = 30_000;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(timeout);

let failed = false;
try {
  if (mode === 'start') await start();
  else if (mode === 'check') await check();
  else if (mode === 'find') await find();
  else throw new Error(`usage: node webui.mjs start|check|find (got ${mode})`);
} catch (err) {
  failed = true;
  console.error(`webui.mjs ${mode}: ${err.stack || err}`);
  const shot = screenshot.replace(/\.png$/, '') + `-${mode}-failure.png`;
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`webui.mjs: page ${page.url()}, screenshot ${shot}`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

// start fills and submits the start-workflow form, the way an operator does:
// Workflows → Start Workflow → Workflow ID, Task Queue, Workflow Type, Input.
async function start() {
  const input = env('WORKFLOW_INPUT');
  await page.goto(`${url}/namespaces/${ns}/workflows`);
  await page.locator('a[href*="/workflows/start-workflow"]').filter({ hasText: 'Start Workflow' }).first().click();
  await page.waitForURL(/\/start-workflow/);
  await page.getByTestId('workflowId').fill(workflowId);
  await page.getByTestId('taskQueue').fill(env('TASK_QUEUE', 'lifeboat'));
  await page.getByTestId('workflowType').fill(env('WORKFLOW_TYPE', 'Restore'));
  // The input is a CodeMirror editor: type the JSON into it as a paste
  // would, without its bracket auto-closing, then check what it holds.
  const editor = page.locator('.cm-content[contenteditable="true"]').first();
  await editor.click();
  await page.keyboard.insertText(input);
  const typed = (await editor.innerText()).trim();
  if (JSON.stringify(JSON.parse(typed)) !== JSON.stringify(JSON.parse(input))) {
    throw new Error(`the input editor holds ${typed}, want ${input}`);
  }
  // Leave the editor so the form takes its value, and wait for the task
  // queue's status box, which moves the button when it appears.
  await page.getByRole('heading', { name: 'Start a Workflow' }).click();
  await page.getByText('Task Queue is Active').waitFor();
  const submit = page.getByRole('button', { name: 'Start Workflow', exact: true });
  await expectEnabled(submit);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/api/v1/namespaces/')),
    submit.click(),
  ]);
  if (!resp.ok()) throw new Error(`starting the workflow failed: HTTP ${resp.status()} ${await resp.text()}`);
  await page.getByText('Workflow started successfully').waitFor();
  console.log(`started ${workflowId} from the Web UI form: ${resp.status()}, "Workflow started successfully"`);
}

async function expectEnabled(locator) {
  const deadline = Date.now() + timeout;
  while (await locator.isDisabled()) {
    if (Date.now() > deadline) throw new Error('the Start Workflow button stays disabled');
    await page.waitForTimeout(200);
  }
}

// find opens the workflows list filtered to completed workflows of a type,
// the way an operator looks for the last drill, follows the link of the
// workflow, and checks its page as check does.
async function find() {
  const query = `WorkflowType="${env('WORKFLOW_TYPE')}" AND ExecutionStatus="Completed"`;
  await page.goto(`${url}/namespaces/${ns}/workflows?query=${encodeURIComponent(query)}`);
  const link = page.locator(`a[href*="/workflows/${encodeURIComponent(workflowId)}/"]`).first();
  // A workflow just closed may take the list a moment to show.
  for (let tries = 0; ; tries++) {
    try {
      await link.waitFor({ timeout: 10_000 });
      break;
    } catch (err) {
      if (tries >= 5) throw new Error(`the list of ${query} has no link to ${workflowId}`);
      await page.reload();
    }
  }
  await link.click();
  await page.waitForURL((u) => u.pathname.includes(`/workflows/${encodeURIComponent(workflowId)}/`));
  console.log(`found ${workflowId} in the list of ${query}`);
  await check(true);
}

// check opens the finished workflow's page and checks what it shows; from
// find, the page is open already.
async function check(opened = false) {
  const runId = env('WORKFLOW_RUN_ID');
  const expect = env('EXPECT_TEXT', '').split('\n').filter(Boolean);
  if (!opened) await page.goto(`${url}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`);
  const heading = page.getByTestId('workflow-id-heading');
  await heading.getByText(workflowId, { exact: true }).waitFor();
  // The status badge stands in the heading's row, left of the workflow ID.
  const badge = page.getByText('Completed', { exact: true }).first();
  await badge.waitFor();
  const [b, h] = [await badge.boundingBox(), await heading.boundingBox()];
  if (!b || !h || Math.abs(b.y + b.height / 2 - (h.y + h.height / 2)) > h.height || b.x > h.x) {
    throw new Error(`no "Completed" badge beside the heading (badge ${JSON.stringify(b)}, heading ${JSON.stringify(h)})`);
  }
  // The result, in the page's "Input and Results" section.
  const results = page.getByTestId('input-and-result');
  await results.getByText('Result', { exact: true }).waitFor();
  const deadline = Date.now() + timeout;
  let text = '';
  for (;;) {
    text = await results.innerText();
    if (expect.every((s) => text.includes(s))) break;
    if (Date.now() > deadline) {
      throw new Error(`the result does not show ${expect.filter((s) => !text.includes(s)).join(', ')}:\n${text}`);
    }
    await page.waitForTimeout(500);
  }
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`${workflowId}: Completed, result shows ${expect.join(', ')}; screenshot ${screenshot}`);
}
