import path from 'node:path';
import { isMain, runMain } from '../util/main.js';
import { ensureClusterCerts } from './tls.js';

/**
 * `npm run cluster:certs -- <dir>`: the cluster's throwaway CA and certificates (frontend,
 * internode, a client certificate each for worker, API, UI and CLI), e.g. for docker-compose.yml's
 * ./certs. Kept when present and valid for another week. Production: your own CA, same file names.
 */
if (isMain(import.meta.url)) {
  runMain(async () => {
    const dir = path.resolve(process.argv[2] ?? 'certs');
    const certs = await ensureClusterCerts(dir);
    console.log(`CA and certificates in ${certs.dir} (files 0600: make them readable by the containers' users):`);
    console.log(
      `  CA ${certs.caFile}; frontend ${certs.frontend.certFile} (name ${certs.serverName}); internode ${certs.internode.certFile} (name ${certs.internodeServerName})`,
    );
    for (const [client, pair] of Object.entries(certs.clients))
      console.log(`  client ${client}: ${pair.certFile}, ${pair.keyFile}`);
  });
}
