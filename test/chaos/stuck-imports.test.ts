import { chaosSuite } from './suite.js';

chaosSuite('stuck-imports');
