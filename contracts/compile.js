const solc = require('solc');
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const input = {language: 'Solidity', sources: {'TestUSDC.sol': {content: src}},
  settings: {optimizer: {enabled: true, runs: 200}, evmVersion: 'paris', outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors) { for (const e of out.errors) console.error(e.formattedMessage); if (out.errors.some(e => e.severity === 'error')) process.exit(1); }
const c = out.contracts['TestUSDC.sol']['TestUSDC'];
fs.writeFileSync(process.argv[3] + '/TestUSDC.abi.json', JSON.stringify(c.abi, null, 1) + '\n');
fs.writeFileSync(process.argv[3] + '/TestUSDC.bin', c.evm.bytecode.object + '\n');
console.log(solc.version());
