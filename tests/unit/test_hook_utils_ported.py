"""``hook_utils_test.py`` of Monolith, ported onto the simulated runtime.

The original mainly checks that every call goes through without error on a base listener.
"""

from __future__ import annotations

from reference import hook_utils
from reference.runtime.session import Session
from reference.runtime.session_run_hook import CheckpointSaverListener


def test_before_after_saver_listener() -> None:
    base_l = CheckpointSaverListener()
    l1 = hook_utils.BeforeSaveListener(base_l)
    l2 = hook_utils.AfterSaveListener(base_l)
    sess = Session()
    l1.before_save(sess, 0)
    l1.after_save(sess, 0)
    l2.before_save(sess, 0)
    l2.after_save(sess, 0)
