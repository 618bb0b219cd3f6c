#!/usr/bin/env node
// The `ifmatch` bin. A committed shim (not dist/cli/main.js itself) so npm can
// link it at install time, before `prepare` has built dist/.
import '../dist/cli/main.js';
