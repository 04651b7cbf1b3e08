// ESLint flat config, `npm run lint` (also run by .ci/run).
//
// typescript-eslint's recommended rules, parsed with type information: the Pulumi plugin's rules
// need it (an Output<T> in a plain template literal renders as a warning text instead of its value:
// use pulumi.interpolate), and so do the promise rules, which catch a forgotten await in the async
// program, CLI and tests. The rest of typescript-eslint's type-checked set (no-unsafe-*) is left
// out: resource inputs recorded under Pulumi's mocks are untyped JSON by nature here.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
    {
        ignores: ["node_modules/", "**/node_modules/", "build/", "**/*.py"],
    },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: {
            parserOptions: {
                projectService: true,
                tsconfigRootDir: import.meta.dirname,
            },
        },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-misused-promises": "error",
            "@typescript-eslint/await-thenable": "error",
            "@typescript-eslint/no-implied-eval": "error",
        },
    },
    {
        // Tests assert with chai's property style (`expect(x).to.be.empty`) and match pretty-printed output.
        files: ["test/**/*.ts"],
        rules: {
            "@typescript-eslint/no-unused-expressions": "off",
            "no-regex-spaces": "off",
        },
    },
    {
        // The offline tools and the tests read resource inputs recorded under Pulumi's mocks: untyped JSON.
        files: ["tools/**/*.ts", "test/*.ts", "test/support/**/*.ts"],
        rules: {
            "@typescript-eslint/no-explicit-any": "off",
        },
    },
);
