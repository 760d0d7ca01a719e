"""The wheel carries the project's data folders inside the package.

The source keeps templates/, static/ and checklists/ at the top level (the project's layout);
an installed wheel has them as inspect_app/_data/templates/ etc. `inspect_app.config` finds them
in either place. Everything else about the build is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

# Each top-level folder and the files of it that ship. static/fonts/ is not here: the fonts are
# downloaded apart (make fonts, or the offline bundle) and found through INSPECT_FONT_DIR.
DATA = {
    "templates": ["**/*.html"],
    "static": ["*.css", "*.js", "notices/*.css", "vendor/*"],
    "checklists": ["*.yaml"],
}


def data_files():
    """(source file, path inside the package) for every shipped data file."""
    for folder, patterns in DATA.items():
        for pattern in patterns:
            for source in sorted((ROOT / folder).glob(pattern)):
                if source.is_file():
                    yield source, Path("_data") / folder / source.relative_to(ROOT / folder)


class BuildWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the folders from the checkout itself
            return
        package = Path(self.build_lib) / "inspect_app"
        for source, inside in data_files():
            self.mkpath(str((package / inside).parent))
            self.copy_file(str(source), str(package / inside))


setup(cmdclass={"build_py": BuildWithData})
