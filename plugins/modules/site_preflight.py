#!/usr/bin/python
# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: site_preflight
short_description: Check a host's inputs against every role site.yml will run on it, before anything changes
version_added: 0.1.0
description:
  - An action that runs on the controller only (it never connects to the host). site.yml's first
    play runs it on every host of the inventory through role C(mlstack.platform.common)'s entry
    point C(tasks_from=preflight), which then fails once with every problem of every host.
  - The roles come from the inventory groups of the host, read from the artifact layer's table
    (the same one C(playbooks/bundle.yml) uses), plus C(common); the Helm apps (determined,
    seldon, pachyderm) for the first host of C(k8s_control_plane).
  - For each of those roles, the host's variables (inventory, group_vars, host_vars, extra vars)
    over the role's C(defaults/main.yml) are validated against the role's
    C(meta/argument_specs.yml) entry point C(main) with ansible-core's own
    C(ArgumentSpecValidator), as the role's own validation does when it starts. Each error is one
    line (host, variable, what is wrong, separated by colons), without the spec.
  - A value that can only be known once facts are gathered (it templates C(ansible_facts) of this
    or another host) is left to the role's own validation and listed in RV(deferred). Secrets
    (options marked C(no_log), or named like a password, secret, token or key) are never templated
    here (a password lookup would write a file) and their values never appear in a line.
  - Variables that carry a role's prefix (C(postgres_), C(minio_), ..., C(mlstack_)), or come close
    to one (C(postgress_databases)), or to a declared name, but that no role declares (no argument
    spec, defaults or vars of any role) are reported with the nearest declared name.
  - Cross-host rules, from the other hosts' variables on the controller. Every database a
    PostgreSQL client role uses (a role whose defaults have C(<role>_db_host) - label_studio on
    C(labeling) hosts, determined and pachyderm for every node of the cluster) is listed in
    C(postgres_databases) of the first C(postgres) host with the role's user as owner, and a client
    host other than that server is covered by the database's C(allowed_cidrs) or
    C(postgres_hba_allowed_cidrs) (its address is C(ansible_host), or the gathered facts). And
    C(mlstack_registry) names a host of group C(registry) (or its C(ansible_host)) when that group
    has hosts.
  - It does not fail on the problems it finds (so that one task can report those of every host
    at once); it returns them in RV(errors).
author:
  - mlstack.platform developers (@mlstack)
options:
  undeclared:
    description:
      - What undeclared variables are. V(fail) puts them in RV(errors); V(warn) prints them as
        warnings only. site.yml passes C(mlstack_preflight_undeclared).
    type: str
    choices: [fail, warn]
    default: fail
  roles:
    description:
      - Check only these of the roles the host's groups give it (an area playbook's roles, e.g.
        V([docker_host])); empty checks every role site.yml runs. C(common) is checked whenever
        one of them is.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reads only; the same checks run in check mode.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
  idempotent:
    support: full
    description: Read-only; always C(changed=false).
  action:
    support: full
    description: Runs on the controller, with no connection to the host.
seealso:
  - module: ansible.builtin.validate_argument_spec
"""

EXAMPLES = r"""
- name: Check this host's variables against every role it will run
  mlstack.platform.site_preflight:
    undeclared: "{{ mlstack_preflight_undeclared }}"
  register: preflight

- name: Stop the run with every problem of every host
  ansible.builtin.fail:
    msg: "{{ ansible_play_hosts_all | map('extract', hostvars, ['preflight', 'errors']) | flatten | unique | sort | join('\n') }}"
  run_once: true
  when: ansible_play_hosts_all | map('extract', hostvars, ['preflight', 'errors']) | flatten | length > 0
"""

RETURN = r"""
roles:
  description: The roles checked for this host (empty when it runs none).
  returned: always
  type: list
  elements: str
  sample: [common, docker_host, postgres, minio]
errors:
  description:
    - One line per problem (the host, the variable and what is wrong, each followed by a colon and
      a space), sorted; with O(undeclared=fail) the undeclared variables too.
  returned: always
  type: list
  elements: str
  sample:
    - "mlstack-lab-host1: minio_engine: must be one of minio, seaweedfs, got ceph"
    - "mlstack-lab-host1: postgress_databases: not declared by any role; did you mean postgres_databases?"
undeclared:
  description: The undeclared variables' lines (also in RV(errors) with O(undeclared=fail)).
  returned: always
  type: list
  elements: str
deferred:
  description: Variables left to the roles' own validation, since their values need facts.
  returned: always
  type: list
  elements: str
  sample: [label_studio_bind_address, postgres_listen_addresses]
"""
