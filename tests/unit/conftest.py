# Copyright: mlstack.platform developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Shared by every unit test: a module run here starts with no warnings or deprecations
left over from an earlier test.

ansible-core keeps a module's warnings in process-wide registries
(ansible.module_utils.common.warnings._global_warnings and _global_deprecations) and
exit_json reports them all. A real module run is its own process; the tests run many
modules in one, so a warning one test provoked (e.g. bundle_signing_key's loose key mode)
would show up in the result of the next module any later test runs."""

import pytest
from ansible.module_utils.common import warnings as _module_warnings


@pytest.fixture(autouse=True)
def _fresh_module_warnings():
    _module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    _module_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    yield
