#!/usr/bin/env node
// A stand-in for the `minio` server on machines where no MinIO binary or image can be had: it accepts MinIO's
// command line (`minio server DIR [--address HOST:PORT] [--console-address HOST:PORT]`) and credentials
// (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD, or the older MINIO_ACCESS_KEY / MINIO_SECRET_KEY), answers MinIO's
// health endpoints, and serves S3 from s3rver. Tests run it as a local process and as a container image.
// s3rver never verifies signatures (it only refuses unknown access keys): it cannot stand in for auth tests.
'use strict';

const http = require('http');
const path = require('path');

// s3rver from the image's /app/node_modules, else from the repository's .tools (where .ci/test.sh installs it).
function s3rverFolder() {
  try {
    return path.dirname(require.resolve('s3rver/package.json'));
  } catch {
    return path.join(__dirname, '..', '..', '..', '.tools', 'node_modules', 's3rver');
  }
}

function fail(message) {
  process.stderr.write(`minio stand-in: ${message}\n`);
  process.exit(2);
}

function parseAddress(value, flag) {
  const match = /^(.*):(\d{1,5})$/.exec(value || '');
  if (!match) fail(`${flag} must be HOST:PORT or :PORT, not '${value}'`);
  return { host: match[1] || '0.0.0.0', port: Number(match[2]) };
}

function parseArguments(argv) {
  if (argv[0] !== 'server') fail("the only command is 'server' (minio server DIR [--address :9000] [--console-address :9001])");
  const options = { api: ':9000', console: null, directory: null };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--address') options.api = value();
    else if (flag === '--console-address') options.console = value();
    else if (flag === '--quiet' || flag === '--json' || flag === '--anonymous') continue;
    else if (arg.startsWith('--')) fail(`unsupported flag ${flag}`);
    else if (options.directory === null) options.directory = arg;
    else fail('only one data directory is supported');
  }
  if (!options.directory) fail('a data directory is required');
  return options;
}

function credentials() {
  const user = process.env.MINIO_ROOT_USER || process.env.MINIO_ACCESS_KEY || 'minioadmin';
  const password = process.env.MINIO_ROOT_PASSWORD || process.env.MINIO_SECRET_KEY || 'minioadmin';
  if (password.length < 8) fail('MINIO_ROOT_PASSWORD must be at least 8 characters, as MinIO requires');
  return { user, password };
}

function listen(server, address, label) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      const bound = server.address();
      process.stdout.write(`${label}: http://${address.host}:${bound.port}\n`);
      resolve();
    });
  });
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const { user, password } = credentials();
  const folder = s3rverFolder();
  const S3rver = require(folder);
  require(path.join(folder, 'lib', 'models', 'account')).DUMMY_ACCOUNT.createKeyPair(user, password);

  const s3 = new S3rver({ directory: options.directory, silent: !process.env.MINIO_STANDIN_VERBOSE });
  const handle = s3.callback();
  const api = http.createServer((req, res) => {
    if (req.url.startsWith('/minio/health/')) {
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
      return;
    }
    handle(req, res);
  });
  await listen(api, parseAddress(options.api, '--address'), 'API');

  if (options.console) {
    const page = 'MinIO console stand-in: this node is s3rver behind MinIO\'s command line; use the S3 API.\n';
    const consoleServer = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(page) });
      res.end(page);
    });
    await listen(consoleServer, parseAddress(options.console, '--console-address'), 'WebUI');
  }

  process.stdout.write(`Data: ${path.resolve(options.directory)} (s3rver ${require(path.join(folder, 'package.json')).version}), access key ${user}\n`);
  // Node as PID 1 ignores SIGTERM unless it handles it; `docker stop` and Aspire expect a prompt exit.
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}

main().catch(error => fail(error.message));
