// Which HTML and CSS features of an email a set of clients do not fully support, by caniemail's
// data, as doiuse-email (npm) finds them: the HTML on stdin, one JSON object on stdout.
//
//   node tests/caniemail_check.mjs NODE_TOOLS CLIENT[,CLIENT...] < email.html
//
// NODE_TOOLS is the npm prefix doiuse-email is installed in (`make caniemail`: .venv/node); a
// CLIENT is caniemail's family.platform, e.g. gmail.ios or outlook.outlook-com. Used by
// tests/caniemail.py only; a dev-only tool, never part of digest.
//
// doiuse-email finds the features (it parses the HTML and its <style> sheets and matches them to
// caniemail's feature titles) and judges each client by the newest version in caniemail's data.
// Two things are done differently here, by overriding its checkFeaturesSupport: each feature is
// judged for one client at a time and recorded as a structured finding (its own result is
// English sentences), and a client caniemail has no data for on some feature is recorded as
// "unknown" instead of aborting the whole check. Its client list also lacks Outlook.com
// (outlook.outlook-com), which caniemail's data has: clients are checked against the data.
//
// Output: {"tool": "doiuse-email 0.4.1", "data": caniemail's last update, "features": [every
// feature title found], "findings": [{"feature", "client", "support": "none" | "partial" |
// "unknown", "notes": [caniemail's notes]}]} (fully supported pairs are left out).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [tools, clientList] = process.argv.slice(2);
if (!tools || !clientList) {
  process.stderr.write('usage: caniemail_check.mjs NODE_TOOLS CLIENT[,CLIENT...] < email.html\n');
  process.exit(2);
}
const clients = clientList.split(',');
const packageDir = join(tools, 'node_modules', 'doiuse-email');
// The package's exports map hides its data file from require(): read it by path.
const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const data = JSON.parse(readFileSync(join(packageDir, 'data', 'can-i-email.json'), 'utf8'));
const { DoIUseEmail } = createRequire(join(tools, 'package.json'))('doiuse-email');

const known = new Set();
for (const feature of data.data) {
  for (const [family, platforms] of Object.entries(feature.stats)) {
    for (const platform of Object.keys(platforms)) known.add(`${family}.${platform}`);
  }
}
const unknown = clients.filter((client) => !known.has(client));
if (unknown.length > 0) {
  process.stderr.write(`caniemail has no data for these clients: ${unknown.join(', ')}\n`);
  process.exit(2);
}

class Recorder extends DoIUseEmail {
  constructor() {
    super({ emailClients: ['*.*'] }); // any valid glob: clients are set per check below
    this.findings = new Map(); // "title\0client" -> finding, each pair judged once
  }

  checkFeaturesSupport(featureTitles) {
    for (const feature of [featureTitles].flat()) {
      for (const client of clients) {
        const key = `${feature}\0${client}`;
        if (this.findings.has(key)) continue;
        const [errors, warnings, notes] = [this.errors, this.warnings, this.notes].map(
          (list) => list.length);
        this.emailClients = [client];
        let support;
        try {
          super.checkFeaturesSupport(feature);
          support = this.errors.length > errors ? 'none'
            : this.warnings.length > warnings ? 'partial' : 'full';
        } catch (error) {
          if (!String(error?.message).includes('not found on')) throw error;
          support = 'unknown';
        }
        // "Note about `title` support for `client`: text" -> text
        const said = this.notes.slice(notes).map((note) => note.replace(/^[^:]*`: /, ''));
        this.findings.set(key, { feature, client, support, notes: said });
      }
    }
  }
}

const recorder = new Recorder();
recorder.check(readFileSync(0, 'utf8'));
const all = [...recorder.findings.values()];
process.stdout.write(JSON.stringify({
  tool: `doiuse-email ${pkg.version}`,
  data: data.last_update_date,
  features: [...new Set(all.map((finding) => finding.feature))].sort(),
  findings: all.filter((finding) => finding.support !== 'full'),
}) + '\n');
