// The dashboard's last part (after dashboard.js and the view-*.js files):
// every view has registered, the dashboard starts.
'use strict';
AM.start();
