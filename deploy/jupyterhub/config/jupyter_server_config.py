"""Jupyter Server settings for every single-user server of the class.

JupyterLab reads its settings overrides (`overrides.json`) from its application settings
directory; point it at `lab/settings/` next to this file, so that the class's lab settings live
with the rest of the deployment (by default that directory, `{sys.prefix}/share/jupyter/lab/settings`,
is empty: nothing is lost).
"""
import os

c = get_config()  # noqa: F821

c.LabApp.app_settings_dir = os.path.join(os.path.dirname(__file__), "lab", "settings")
