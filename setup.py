"""midime-magenta: MidiMe for Magenta's MusicVAE.

magenta 2.1.4 itself is NOT listed: its own pins (tensorflow 2.9, numba 0.49,
numpy 1.21) cannot install on any current Python. Install it first with
`pip install --no-deps magenta==2.1.4`; bin/demo and bin/test do.

The ranges below are the versions that were tested (see README, "Verified
versions"); they admit Colab's image, so installing into Colab changes none of
TensorFlow, tf-keras, TensorFlow Probability, numpy or protobuf. Floors are
tested versions: magenta 2.1.4's data.py needs numpy's `np.bool` (numpy 2;
absent in 1.24-1.26), and TensorFlow before 2.18 needs numpy < 2.

tensorflow-datasets stays a dependency because magenta's own scripts
(`music_vae_generate`) import it, but this package never imports it (see
midime_magenta/startup_lib.py), which keeps Colab's tensorflow-metadata
traceback away.
"""

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildLibraryOnly(build_py):
  """Leaves the `*_test.py` modules beside the code out of the wheel."""

  def find_package_modules(self, package, package_dir):
    return [m for m in super().find_package_modules(package, package_dir)
            if not m[1].endswith('_test')]

setup(
    name='midime-magenta',
    version='0.2.0',
    description='MidiMe: personalize a pretrained MusicVAE with your own MIDI.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    # The library only: tests, fixtures (testdata/) and test helpers
    # (midime_testing/) stay in the checkout. One demo tune ships for the
    # notebook.
    # The core, flat, and its four feature wings.
    packages=['midime_magenta', 'midime_magenta.checkpoints',
              'midime_magenta.encoding', 'midime_magenta.steering',
              'midime_magenta.studio'],
    package_data={'midime_magenta': ['musicvae_variables.json',
                                     'data/reel_4-4.mid', 'data/pianoroll.js',
                                     'data/pianoroll.css'],
                  'midime_magenta.studio': ['studio.css']},
    cmdclass={'build_py': BuildLibraryOnly},
    install_requires=[
        'tensorflow>=2.20,<2.22',
        'tf-keras>=2.20,<2.22',
        'tensorflow-probability>=0.25,<0.26',
        'tf-slim>=1.1,<2',
        'note-seq>=0.0.5,<0.1',
        'tensorflow-datasets>=4.9,<5',  # For magenta's own scripts only.
        'tensorboard>=2.20,<3',  # tf.summary; TF 2.21 no longer pulls it in.
        'absl-py>=1.0,<3',
        'numpy>=2.0,<3',
        # note_seq imports pydub, which needs audioop, removed in Python 3.13.
        'audioop-lts>=0.2.1; python_version>="3.13"',
        'tqdm>=4.60,<5',
        'requests>=2.25,<3',
        'matplotlib>=3.7,<4',  # magenta (installed --no-deps) imports it.
        'pillow>=9,<13',  # Piano rolls (plots_lib).
    ],
    extras_require={
        # midime_encode (encode_pipeline): Apache Beam. 2.77 declares
        # protobuf<7, which with TF 2.21 resolves to protobuf 6.33 (TF asks
        # for >=6.31.1); Colab's protobuf 5.29.6 with TF 2.20 is inside too.
        # google-crc32c: the TFRecord shards' checksums (Beam has none of
        # its own; Colab ships 1.8.0). [dask]: Beam's DaskRunner, with dask
        # and distributed (2026.8.0 with Beam 2.78 tested).
        # psutil: a stopped encoding ends its worker processes.
        'beam': ['apache-beam[dask]>=2.70,<3', 'google-crc32c>=1.5,<2',
                 'psutil>=5.9,<8'],
        # midime_studio (studio): Gradio, which Colab ships (6.24); 6.7 has the
        # 2026 fixes of its file routes (paths, SSRF).
        'studio': ['gradio>=6.7,<7'],
        # selenium drives Debian's chromium (apt) in the studio's browser test.
        'test': ['pytest>=7,<10', 'pytest-xdist>=3,<4', 'hypothesis>=6.80,<7',
                 'nbclient>=0.7,<1',
                 'nbformat>=5.7,<6', 'ipykernel>=6,<8',
                 'ipywidgets>=7.7,<9', 'selenium>=4.20,<5'],
    },
    entry_points={
        'console_scripts': [
            'midime_train = midime_magenta.midime_train:console_entry_point',
            'midime_studio = midime_magenta.midime_studio:console_entry_point',
            'midime_checkpoints = '
            'midime_magenta.midime_checkpoints:console_entry_point',
            'midime_evaluate = '
            'midime_magenta.midime_evaluate:console_entry_point',
            'midime_constrain = '
            'midime_magenta.midime_constrain:console_entry_point',
            'midime_encode = '
            'midime_magenta.midime_encode:console_entry_point',
            'midime_generate = '
            'midime_magenta.midime_generate:console_entry_point',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Multimedia :: Sound/Audio :: MIDI',
    ],
)
