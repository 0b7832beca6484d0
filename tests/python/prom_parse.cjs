// Reads Prometheus' text format on stdin and prints it as JSON (prom2json's shape), parsed by
// parse-prometheus-text-format from npm: a parser nobody here wrote. Used by test_metrics.py.
const path = require('node:path');
const peers = path.join(process.env.TC_SOURCE_DIR || path.resolve(__dirname, '../..'), 'tests/peers/node_modules');
const parse = require(path.join(peers, 'parse-prometheus-text-format'));
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { text += d; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(parse(text))); });
