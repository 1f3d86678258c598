# nbdev 2's setup.py: metadata and requirements come from settings.ini.
# (The template's `pkg_resources` version assert is dropped: current setuptools has no pkg_resources.)
from configparser import ConfigParser
from pathlib import Path
import shutil
import setuptools
from setuptools.command.build_py import build_py

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o: cfg[o] for o in cfg_keys}

licenses = {
    'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License'),
    'mit': ('MIT License', 'OSI Approved :: MIT License'),
}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12'.split()

requirements = cfg.get('requirements', '').split()
dev_requirements = (cfg.get('dev_requirements') or '').split()
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))
min_python = cfg['min_python']


# What midt ships from outside its package folder: the papermill analysis notebooks (nbs/analysis) and the configs.
# A source checkout reads them in place; a built wheel carries copies under midt/_shipped/ (midt.utils.io.shipped_dir).
SHIPPED = {'analysis': ('nbs/analysis', '*.ipynb'), 'configs': ('configs', '**/*.yaml')}

class build_py_with_shipped(build_py):
    "build_py that also copies the shipped notebooks and configs into the built package."
    def run(self):
        super().run()
        for kind, (src, pattern) in SHIPPED.items():
            for f in sorted(Path(src).glob(pattern)):
                dst = Path(self.build_lib)/'midt'/'_shipped'/kind/f.relative_to(src)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dst)

setuptools.setup(
    cmdclass={'build_py': build_py_with_shipped},
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]]
      + (['License :: ' + lic[1]] if lic[1] else []),
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['midt', 'midt.*']),
    include_package_data=True,
    package_data={'midt': ['layouts/*.txt', 'layouts/*.json']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d'],
    },
    **setup_cfg)
