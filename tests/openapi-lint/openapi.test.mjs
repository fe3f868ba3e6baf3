// Heed's OpenAPI document as the tools that generate clients read it: fetched from a running `heed serve` (with the bearer
// token, as a client would), validated by @apidevtools/swagger-parser (OpenAPI 3.1 schema and $refs) and linted by
// `redocly lint` with its recommended rules, which must report no error.
//
// Run: node --test (from this folder, after npm ci and a Release build of Heed.Cli). HEED_DLL overrides the heed.dll path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';

const here = path.dirname(fileURLToPath(import.meta.url));
const heedDll = process.env.HEED_DLL ?? path.resolve(here, '../../src/Heed.Cli/bin/Release/net10.0/heed.dll');

describe('the OpenAPI document of heed serve', () => {
  let folder, serve, file, doc;

  before(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'heed-openapi-'));
    const env = { ...process.env, HOME: folder, XDG_RUNTIME_DIR: path.join(folder, 'run'), XDG_CONFIG_HOME: path.join(folder, 'config'), DOTNET_NOLOGO: '1' };
    serve = spawn('dotnet', [heedDll, 'serve', '--port', '0', '--workspace', path.join(folder, 'ws')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    serve.stderr.resume();
    // heed serve prints its address once the discovery file is written.
    await new Promise((resolve, reject) => {
      serve.stdout.once('data', resolve);
      serve.once('exit', (code) => reject(new Error(`heed serve exited with ${code}`)));
    });
    serve.stdout.resume();
    const info = JSON.parse(readFileSync(path.join(folder, 'run', 'heed', 'server.json'), 'utf8'));
    const response = await fetch(info.openapi, { headers: { Authorization: `Bearer ${info.token}` } });
    assert.equal(response.status, 200);
    doc = await response.json();
    file = path.join(folder, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc, null, 2));
  });

  after(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
    rmSync(folder, { recursive: true, force: true });
  });

  it('is valid OpenAPI 3.1 for swagger-parser', async () => {
    const api = await SwaggerParser.validate(structuredClone(doc));
    assert.match(api.openapi, /^3\.1\./);
    assert.ok(Object.keys(api.paths).length >= 20);
  });

  it('passes redocly lint (recommended rules) with no error', () => {
    const redocly = path.join(here, 'node_modules', '.bin', 'redocly');
    const lint = spawnSync(redocly, ['lint', file, '--format', 'json'], {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    const report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf('{')));
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`);
    assert.deepEqual(errors, []);
    assert.equal(lint.status, 0, lint.stderr);
  });
});
