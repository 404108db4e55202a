import { InvalidNameError } from './errors.js';

/** A docker compose project name (the `com.docker.compose.project` label). */
export type ProjectName = string & { readonly __brand: 'ProjectName' };

// Compose's own rule: lowercase letters, digits, '_' and '-', starting with a letter or digit.
const PROJECT_RE = /^[a-z0-9][a-z0-9_-]*$/;
const MAX_PROJECT_NAME_LENGTH = 128;
const RULE = `use 1 to ${MAX_PROJECT_NAME_LENGTH} characters: lowercase letters, digits, '_', '-', starting with a letter or digit (compose's rule)`;

export const ProjectName = {
  parse(raw: unknown): ProjectName {
    if (typeof raw !== 'string' || raw.length > MAX_PROJECT_NAME_LENGTH || !PROJECT_RE.test(raw)) {
      throw new InvalidNameError('project', raw, RULE);
    }
    return raw as ProjectName;
  },
};
