// Validates an OpenAPI document with a real validator and checks sample answers against it.
//   node validate.mjs DOC.json [SAMPLES.json]
// SAMPLES.json: [{method, path, status, body}], `path` as in the document ("/products/{id}").
// Exit 0: the document is valid OpenAPI (3.1 here), every $ref resolves, and every sample body
// matches the schema the document gives for its method, path and status.
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";

const [docPath, samplesPath] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const validator = new Validator();
const res = await validator.validate(structuredClone(doc));
if (!res.valid) {
  console.error("not a valid OpenAPI document:", JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
if (validator.version !== "3.1") {
  console.error("expected OpenAPI 3.1, the validator read", validator.version);
  process.exit(1);
}
validator.resolveRefs();  // throws on a $ref that points nowhere
console.log(`valid OpenAPI ${validator.version}: ${Object.keys(doc.paths).length} paths`);

if (samplesPath) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: "doc", components: doc.components });
  let failed = 0;
  const samples = JSON.parse(readFileSync(samplesPath, "utf8"));
  for (const s of samples) {
    const op = doc.paths[s.path]?.[s.method];
    const response = op?.responses[String(s.status)] ?? op?.responses.default;
    const schema = response?.content?.["application/json"]?.schema;
    if (!schema) {
      console.error(`${s.method} ${s.path} ${s.status}: no JSON schema in the document`);
      failed++;
      continue;
    }
    const check = ajv.compile({ $ref: "doc" + schema.$ref });
    if (!check(s.body)) {
      console.error(`${s.method} ${s.path} ${s.status}: answer does not match`,
                    JSON.stringify(check.errors), JSON.stringify(s.body));
      failed++;
    }
  }
  console.log(`${samples.length - failed} of ${samples.length} answers match their schemas`);
  if (failed) process.exit(1);
}
