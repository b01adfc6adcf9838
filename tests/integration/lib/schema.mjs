// SPDX-License-Identifier: MIT
// schema.mjs: schema/envelope.schema.json, compiled (ajv, JSON Schema
// 2020-12). Client checks every text frame the broker sends against
// $defs/serverFrame, so the schema file cannot drift from the broker.

import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { REPO_ROOT } from './broker.mjs';

const SCHEMA_FILE = path.join(REPO_ROOT, 'schema', 'envelope.schema.json');
const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(schema);

export const validateServerFrame = ajv.getSchema(`${schema.$id}#/$defs/serverFrame`);
export const validateRequest = ajv.getSchema(`${schema.$id}#/$defs/request`);

// The reasons `validate` gave for its last answer, as one line.
export function schemaErrors(validate) {
    return ajv.errorsText(validate.errors, { separator: '; ' });
}
