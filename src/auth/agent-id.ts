/**
 * The agent name rule shared by every auth method: a DNS-1123 label, exactly as upstream
 * validates it (Kubernetes `IsDNS1123Label`), so an identity a Go principal rejects is
 * rejected here too.
 *
 * @example
 *   agentIdProblem("agent-1")        // undefined (valid)
 *   agentIdProblem("agent-1.argocd") // "a lowercase RFC 1123 label must consist of …"
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_MAX_LENGTH = 63;

/** Returns why `id` is not a valid agent name, or undefined when it is valid. */
export function agentIdProblem(id: string): string | undefined {
  const problems: string[] = [];
  if (id.length > DNS1123_LABEL_MAX_LENGTH) {
    problems.push(`must be no more than ${DNS1123_LABEL_MAX_LENGTH} characters`);
  }
  if (!DNS1123_LABEL.test(id)) {
    // Same wording as Kubernetes, so operators can search for it.
    problems.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " +
        "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', " +
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    );
  }
  return problems.length ? problems.join("; ") : undefined;
}

/** True when `id` may be used as an agent name. */
export function isValidAgentId(id: string): boolean {
  return agentIdProblem(id) === undefined;
}
