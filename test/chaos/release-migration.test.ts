import { chaosSuite } from './suite.js';

chaosSuite('release-migration');
