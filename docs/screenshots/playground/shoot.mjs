// Screenshots of Harbour in the Microsoft 365 Agents Playground, for the Teams Store.
//
// How to run it (Node.js 20; nothing is installed inside the repository):
//
//   npm install --prefix /tmp/pg playwright-core @microsoft/m365agentsplayground
//   apt-get install -y chromium faketime      # Debian's browser; faketime is optional
//   node docs/screenshots/playground/shoot.mjs                 # into docs/screenshots/
//   node docs/screenshots/playground/shoot.mjs --out DIR --tools /tmp/pg
//
// It starts `harbour serve --memory` in local trial mode (HARBOUR_TEAMS_LOCAL_TRIAL=true)
// and the Agents Playground pointed at its /api/messages, both on free loopback ports
// and in a temporary directory, opens the Playground's chat in headless Chromium through
// playwright-core, types and clicks a short conversation as a user would, and saves
// 1366x768 pictures (the size the Teams Store asks for) of the cards Harbour really sent.
// Everything the user "types" is made up. The Playground's clock is pinned with faketime
// when it is installed, so the times on the messages read 09:30 on every run and the
// pictures come out the same (but for a few anti-aliased pixels at the edge of an avatar
// or the compose box, which Chromium draws a shade differently from run to run); without
// faketime they show the time of the run.
//
// The pictures: playground-1-welcome (the card Harbour sends when it is installed),
// playground-2-report-begins (`report`, first page answered), playground-3-what-happened
// (the second page, two kinds ticked). It needs the repository's .venv with Harbour in it.
// Checked with @microsoft/m365agentsplayground 0.2.28, playwright-core 1.65.1 and
// Debian's Chromium 150, on a machine with no internet.
//
// --tools is the folder npm installed into (default /tmp/pg, or $HARBOUR_PLAYGROUND_TOOLS).
// The browser is /usr/bin/chromium (or $CHROMIUM). The browser talks to nothing but
// loopback: every other request (the Playground's web fonts, telemetry) is refused.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..", "..");
const SIZE = { width: 1366, height: 768 };
const CLOCK = "2026-03-02 09:30:00"; // a Monday morning, as in make.py
const CHROMIUM_FLAGS = [
  // What works on a machine with a closed network: without the background-networking
  // flags Chromium keeps trying Google's hosts.
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
// The Playground's own mock tenant, with Harbour's name on the bot and a made-up worker.
const PLAYGROUND_CONFIG = `version: "0.1.1"
tenantId: 00000000-0000-0000-0000-0000000000001
bot:
  id: 00000000-0000-0000-0000-00000000000011
  name: Harbour
currentUser:
  id: user-id-0
  name: Alice Example
  userPrincipleName: alice@example.com
  aadObjectId: 00000000-0000-0000-0000-0000000000020
  givenName: Alice
  surname: Example
  email: alice@example.com
users: # the Playground asks for exactly five
  - id: user-id-1
    name: Bob Example
    userPrincipleName: bob@example.com
    aadObjectId: 00000000-0000-0000-0000-0000000000021
    givenName: Bob
    surname: Example
    email: bob@example.com
  - id: user-id-2
    name: Carol Example
    userPrincipleName: carol@example.com
    aadObjectId: 00000000-0000-0000-0000-0000000000022
    givenName: Carol
    surname: Example
    email: carol@example.com
  - id: user-id-3
    name: Dan Example
    userPrincipleName: dan@example.com
    aadObjectId: 00000000-0000-0000-0000-0000000000023
    givenName: Dan
    surname: Example
    email: dan@example.com
  - id: user-id-4
    name: Erin Example
    userPrincipleName: erin@example.com
    aadObjectId: 00000000-0000-0000-0000-0000000000024
    givenName: Erin
    surname: Example
    email: erin@example.com
  - id: user-id-5
    name: Frank Example
    userPrincipleName: frank@example.com
    aadObjectId: 00000000-0000-0000-0000-0000000000025
    givenName: Frank
    surname: Example
    email: frank@example.com
personalChat:
  id: __PERSONAL_CHAT_ID__
groupChat:
  id: __GROUP_CHAT_ID__
  name: Group Chat
team:
  id: team-id
  name: Safety leads
  aadGroupId: 00000000-0000-0000-0000-000000000031
  channels:
    - id: channel-alerts-id
      name: Alerts
`;

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      out: { type: "string", default: path.join(ROOT, "docs", "screenshots") },
      tools: { type: "string", default: process.env.HARBOUR_PLAYGROUND_TOOLS ?? "/tmp/pg" },
    },
  }));
} catch (error) {
  fail(`${error.message}; the options are --out DIR and --tools DIR`);
}
const tools = path.resolve(options.tools);
const requireTool = createRequire(path.join(tools, "node_modules", "noop.js"));
let chromium;
try {
  ({ chromium } = requireTool("playwright-core"));
} catch {
  fail(`playwright-core is not in ${tools}: see the top of this script for how to install it`);
}
const playgroundCli = path.join(
  tools,
  "node_modules",
  "@microsoft",
  "m365agentsplayground",
  "cli.js",
);
if (!fs.existsSync(playgroundCli)) {
  fail(`the Agents Playground is not in ${tools}: see the top of this script`);
}
const harbourBin = path.join(ROOT, ".venv", "bin", "harbour");
if (!fs.existsSync(harbourBin)) {
  fail(`${harbourBin} is missing: make the repository's .venv with Harbour in it first`);
}
const chromiumBin = process.env.CHROMIUM ?? "/usr/bin/chromium";
const pinClock = spawnSync("faketime", ["--version"]).status === 0;
if (!pinClock) {
  console.warn("faketime is not installed: the pictures will show the time of this run");
}

function fail(message) {
  console.error(`shoot.mjs: ${message}`);
  process.exit(1);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Start a child whose output is kept, and resolve once `ready` appears in it. */
function start(name, command, args, { cwd, env, ready }) {
  // Its own process group, so that stopping it stops what it started (faketime forks).
  const child = spawn(command, args, {
    cwd,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // A child can print that it is ready and stop just after (the Playground does, on a
  // config file it refuses): `stopped` says so if what follows fails.
  let stopped;
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${name} could not be started: ${error.message}`));
    });
    const read = (chunk) => {
      output += chunk;
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      stopped = `${name} stopped (exit ${code}):\n${output}`;
      reject(new Error(stopped));
    });
  });
  return { child, started, stopped: () => stopped };
}

/** Type a message into the Playground's compose box and send it. */
async function say(page, text) {
  const compose = page.locator('[data-lexical-editor="true"]');
  await compose.click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/** The newest card in the chat that holds `text` (a whole card, not one nested in it). */
function card(page, text) {
  return page
    .locator(".ac-adaptiveCard:not(.ac-adaptiveCard .ac-adaptiveCard)")
    .filter({ hasText: text })
    .last();
}

/** Scroll the chat so that `locator` starts near its top, below the sender's name. */
async function scrollToTop(locator) {
  await locator.evaluate((element) => {
    element.scrollIntoView({ block: "start" });
    let scroller = element.parentElement;
    while (scroller && scroller.scrollHeight <= scroller.clientHeight) {
      scroller = scroller.parentElement;
    }
    scroller?.scrollBy(0, -40);
  });
}

async function shoot(page, name) {
  // No focus ring or focused compose box, and the chat done scrolling to the newest message.
  await page.evaluate(() => document.activeElement?.blur());
  await page.waitForTimeout(500);
  const file = path.join(options.out, `${name}-${SIZE.width}x${SIZE.height}.png`);
  await page.screenshot({ path: file, animations: "disabled" }); // transitions finished
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

async function converse(page) {
  // The Playground installs the app in the personal chat and Harbour sends its welcome.
  const welcome = card(page, "What I can't do");
  await welcome.waitFor();
  await scrollToTop(welcome);
  await shoot(page, "playground-1-welcome");

  await say(page, "report");
  const safety = card(page, "First, your safety");
  await safety.waitFor();
  await safety.getByText("No", { exact: true }).click();
  await shoot(page, "playground-2-report-begins");

  await safety.getByRole("button", { name: "Next" }).click();
  const what = card(page, "What happened");
  await what.waitFor();
  const kinds = what.getByRole("checkbox");
  await kinds.nth(0).check();
  await kinds.nth(1).check();
  await shoot(page, "playground-3-what-happened");
}

async function main() {
  fs.mkdirSync(options.out, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "harbour-playground-"));
  fs.writeFileSync(path.join(work, ".m365agentsplayground.yml"), PLAYGROUND_CONFIG);
  const [harbourPort, playgroundPort] = [await freePort(), await freePort()];
  const started = [];
  let browser;
  try {
    // Only what the trial needs: a Slack token, a database URL or Teams credentials
    // in this shell must not reach the Harbour that is being photographed.
    const harbour = start("harbour", harbourBin, ["serve", "--memory"], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        HOME: work,
        HARBOUR_TEAMS_LOCAL_TRIAL: "true",
        PORT: String(harbourPort),
      },
      ready: "Harbour is listening",
    });
    started.push(harbour);
    await harbour.started;

    const playgroundArgs = [
      playgroundCli,
      "--app-endpoint",
      `http://127.0.0.1:${harbourPort}/api/messages`,
      "--channel-id",
      "msteams",
      "--port",
      String(playgroundPort),
      "--disable-telemetry",
    ];
    const playground = pinClock
      ? start("playground", "faketime", ["-f", `@${CLOCK}`, process.execPath, ...playgroundArgs], {
          cwd: work,
          env: { ...process.env, TZ: "UTC" },
          ready: `Listening on ${playgroundPort}`,
        })
      : start("playground", process.execPath, playgroundArgs, {
          cwd: work,
          env: process.env,
          ready: `Listening on ${playgroundPort}`,
        });
    started.push(playground);
    await playground.started;

    browser = await chromium.launch({ executablePath: chromiumBin, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({
      viewport: SIZE,
      timezoneId: "UTC",
      locale: "en-GB",
    });
    const page = await context.newPage();
    await page.clock.setFixedTime(new Date(`${CLOCK.replace(" ", "T")}Z`));
    await page.route(
      (url) => !["localhost", "127.0.0.1"].includes(url.hostname),
      (route) => route.abort(),
    );
    page.setDefaultTimeout(15_000);
    await page.goto(`http://localhost:${playgroundPort}/`);
    // The log panel is the Playground's, not Teams': close it so the chat has the width.
    await page.getByText("Log Panel").waitFor();
    await page.locator('button[title="Toggle Log Panel"]').click();
    await page.mouse.move(SIZE.width - 1, SIZE.height - 1); // no button left looking hovered
    await converse(page);
  } catch (error) {
    const stopped = started.map((s) => s.stopped()).filter(Boolean);
    throw stopped.length ? new Error(`${error.message}\n${stopped.join("\n")}`) : error;
  } finally {
    await browser?.close();
    for (const { child } of started.reverse()) {
      if (child.pid !== undefined && child.exitCode === null) {
        process.kill(-child.pid, "SIGTERM");
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => fail(error.stack ?? String(error)),
);
