import { writeFileSync } from 'node:fs';
import { grafanaDashboard } from '../src/metrics/dashboard.js';

// Writes docs/grafana-dashboard.json (import it in Grafana: Dashboards → New → Import).
writeFileSync(
  new URL('../docs/grafana-dashboard.json', import.meta.url),
  `${JSON.stringify(grafanaDashboard(), null, 2)}\n`,
);
console.log('Wrote docs/grafana-dashboard.json');
