// Packages a folder as a SCORM zip with simple-scorm-packager (npm, MIT): a packaging tool we did
// not write, so the Learn tests parse a package made the way authoring pipelines make them.
//
//   NODE_PATH=target/npm/node_modules node scripts/scorm-package.js VERSION SOURCE_DIR OUT_DIR
//
// VERSION: '1.2', '2004 3rd Edition' or '2004 4th Edition'. `.ci/run` installs the packager.
const scopackager = require('simple-scorm-packager');

const [version, source, outputFolder] = process.argv.slice(2);
scopackager(
  {
    version,
    organization: 'Acme',
    title: 'Safety First',
    language: 'en',
    masteryScore: 80,
    startingPage: 'index.html',
    source,
    package: { version: '1.0.0', zip: true, outputFolder, date: '2026-12-07' },
  },
  () => {},
);
