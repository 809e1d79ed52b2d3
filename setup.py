"""midime-magenta: MidiMe for Magenta's MusicVAE.

magenta 2.1.4 itself is NOT listed: its own pins (tensorflow 2.9, numba 0.49,
numpy 1.21) cannot install on any current Python. Install it first with
`pip install --no-deps magenta==2.1.4`; bin/demo and bin/test do.

The ranges below were verified (see README, "Verified versions") and admit
today's Colab image, so installing into Colab never reinstalls TensorFlow.
"""

from setuptools import setup

setup(
    name='midime-magenta',
    version='0.1.0',
    description='MidiMe: personalize a pretrained MusicVAE with your own MIDI.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=['midime_magenta', 'midime_magenta.registered_configs',
              'midime_magenta.testdata'],
    # The owner's layout keeps configs/ and testdata/ at the top level; they
    # ship inside the package so installed copies find them.
    package_dir={'midime_magenta.registered_configs': 'configs',
                 'midime_magenta.testdata': 'testdata'},
    package_data={
        'midime_magenta': ['musicvae_variables.json'],
        'midime_magenta.registered_configs': ['*.json'],
        'midime_magenta.testdata': ['*.mid', 'folk/*.mid', 'checkpoints/*/*',
                                    'bad/*'],
    },
    install_requires=[
        'tensorflow>=2.16,<2.22',
        'tf-keras>=2.16,<2.22',
        'tensorflow-probability>=0.24,<0.26',
        'tf-slim>=1.1,<2',
        'note-seq>=0.0.5,<0.1',
        'tensorflow-datasets>=4.9,<5',
        'tensorboard>=2.16,<3',  # tf.summary; TF 2.21 no longer pulls it in.
        'absl-py>=1.0,<3',
        'numpy>=1.26,<3',
        'tqdm>=4.60,<5',
        'requests>=2.25,<3',
        'matplotlib>=3.7,<4',
    ],
    extras_require={
        'test': ['pytest>=7,<10', 'pytest-xdist>=3,<4', 'hypothesis>=6.80,<7',
                 'nbclient>=0.7,<1',
                 'nbformat>=5.7,<6', 'ipykernel>=6,<8'],
    },
    entry_points={
        'console_scripts': [
            'midime_train = midime_magenta.midime_train:console_entry_point',
            'midime_checkpoints = '
            'midime_magenta.midime_checkpoints:console_entry_point',
            'midime_evaluate = '
            'midime_magenta.midime_evaluate:console_entry_point',
            'midime_generate = '
            'midime_magenta.midime_generate:console_entry_point',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Multimedia :: Sound/Audio :: MIDI',
    ],
)
