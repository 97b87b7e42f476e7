import { chaosSuite } from './suite.js';

chaosSuite('migration-failed');
