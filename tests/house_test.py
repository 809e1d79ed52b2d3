"""The package's shape, kept: read from the source with `ast` (nothing imported).

No import circle; no library module imports a script; no module over 450
lines and no class over 300; outside a wing nothing imports the wing's inner
modules (its `__init__` is the door); the core imports neither the studio nor
the encoding wing; only the encoding pipeline imports Beam; each area keeps to
its line budget (docs/development.md gives the reasons). Each checker is also
fed a known violation, so none of these tests can pass by reading nothing.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'midime_magenta'
WINGS = ('checkpoints', 'encoding', 'steering', 'studio')
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 300
# Lines (wc -l) of every non-test .py of an area: ceilings at what the
# package holds now, so it cannot grow unnoticed; the targets they are to come
# down to (7,800 in all) and why are in docs/development.md.
AREA_BUDGETS = {
    'core': 4_395,
    'scripts': 885,
    'checkpoints': 1_265,
    'encoding': 775,
    'steering': 680,
    'studio': 1_250,
}
LIBRARY_BUDGET = sum(AREA_BUDGETS.values())  # 9,250; the target is 7,800.
BEAM_MODULES = {'encoding.encode_pipeline', 'encoding.encode_run_lib'}


def _modules():
  """{dotted name under the package: path}; a wing's door is its own name,
  the package's `__init__` is `__init__`."""
  found = {}
  for path in sorted(PACKAGE.rglob('*.py')):
    if path.stem.endswith('_test'):
      continue
    parts = list(path.relative_to(PACKAGE).with_suffix('').parts)
    if parts[-1] == '__init__' and len(parts) > 1:
      parts.pop()
    found['.'.join(parts)] = path
  return found


def _wing(name):
  head = name.split('.')[0]
  return head if head in WINGS else None


def _is_script(name):
  return name.startswith('midime_') and name not in ('midime_model',
                                                      'midime_hparams')


def _area(name):
  return _wing(name) or ('scripts' if _is_script(name) else 'core')


def _imported_names(tree, known):
  """The package modules a parsed file imports (dotted, as in `known`)."""
  found = set()

  def add(dotted):
    # The longest known prefix: `checkpoints.checkpoint_lib.x` -> the module.
    parts = dotted.split('.')
    for end in range(len(parts), 0, -1):
      if '.'.join(parts[:end]) in known:
        found.add('.'.join(parts[:end]))
        return

  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module == 'midime_magenta' or
        node.module.startswith('midime_magenta.')):
      base = node.module[len('midime_magenta.'):]
      for alias in node.names:
        add(f'{base}.{alias.name}' if base else alias.name)
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith('midime_magenta.'):
          add(alias.name[len('midime_magenta.'):])
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
      # importlib.import_module('midime_magenta.x.y') and mock.patch targets.
      named = re.fullmatch(r'midime_magenta\.([\w.]+)', node.value)
      if named:
        add(named.group(1))
  return found


def _tree(path):
  return ast.parse(path.read_text(encoding='utf-8'))


def _graph():
  """{module: modules it imports}; a door leads to every module of its wing
  (it imports them by name, on first use)."""
  modules = _modules()
  graph = {name: _imported_names(_tree(path), modules) - {name}
           for name, path in modules.items()}
  for wing in WINGS:
    graph[wing] |= {n for n in modules if n.startswith(wing + '.')}
  return graph


def _beam_importers(trees):
  return {name for name, tree in trees.items()
          for node in ast.walk(tree)
          if isinstance(node, ast.Import) and any(
              a.name.split('.')[0] == 'apache_beam' for a in node.names)
          or isinstance(node, ast.ImportFrom) and node.module and
          node.module.split('.')[0] == 'apache_beam'}


def _bin_trees():
  """bin/'s Python scripts, by file name."""
  return {path.name: _tree(path) for path in sorted((ROOT / 'bin').iterdir())
          if path.is_file() and path.read_text(encoding='utf-8').startswith(
              '#!/usr/bin/env python')}


def _circle(graph):
  """One import circle as a list of modules, or None."""
  state = {}

  def visit(name, trail):
    state[name] = 'open'
    for other in sorted(graph[name]):
      if state.get(other) == 'open':
        return trail[trail.index(other):] + [other]
      if other not in state:
        found = visit(other, trail + [other])
        if found:
          return found
    state[name] = 'done'
    return None

  for name in sorted(graph):
    if name not in state:
      found = visit(name, [name])
      if found:
        return found
  return None


def _scripts_imported_by_libraries(graph):
  return {name: sorted(n for n in imports if _is_script(n))
          for name, imports in graph.items()
          if not _is_script(name) and any(_is_script(n) for n in imports)}


def _doors_passed(graph):
  """{importer: inner modules of another wing it imports}."""
  wrong = {}
  for name, imports in graph.items():
    inner = sorted(n for n in imports
                   if '.' in n and _wing(n) and _wing(n) != _wing(name))
    if inner:
      wrong[name] = inner
  return wrong


def _core_into_studio_or_encoding(graph):
  return {name: sorted(n for n in imports
                       if _wing(n) in ('studio', 'encoding'))
          for name, imports in graph.items()
          if _area(name) == 'core' and any(
              _wing(n) in ('studio', 'encoding') for n in imports)}


def _lines_by_area(modules):
  lines = dict.fromkeys(AREA_BUDGETS, 0)
  for name, path in modules.items():
    lines[_area(name)] += len(path.read_text(encoding='utf-8').splitlines())
  return lines


def _over_budget(lines):
  return {area: (n, AREA_BUDGETS[area]) for area, n in lines.items()
          if n > AREA_BUDGETS[area]}


def test_the_reader_finds_the_imports_it_checks():
  graph = _graph()
  # Known edges: if the reader missed imports, the checks below could not fail.
  assert 'personalizer' in graph['midime_train']
  assert 'run_lib' in graph['personalizer']
  assert 'checkpoints' in graph['music_vae_lib']
  assert 'encoding.encoded_lib' in graph['encoding.encode_pipeline']
  assert 'checkpoints.checkpoint_lib' in graph['checkpoints']
  assert {'studio', 'steering', 'studio.page'} <= set(_modules())


def test_each_checker_catches_a_known_violation():
  assert _circle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
  assert _scripts_imported_by_libraries(
      {'run_lib': {'midime_train'}}) == {'run_lib': ['midime_train']}
  known = set(_modules())
  sneaky = ast.parse(
      'from midime_magenta.checkpoints import checkpoint_lib\n'
      'import midime_magenta.steering.rules_lib\n'
      'from midime_magenta.encoding.encoded_lib import EncodedError\n'
      'from midime_magenta import studio\n'
      "importlib.import_module('midime_magenta.studio.page')\n")
  imports = _imported_names(sneaky, known)
  assert imports == {'checkpoints.checkpoint_lib', 'steering.rules_lib',
                     'encoding.encoded_lib', 'studio', 'studio.page'}
  assert _doors_passed({'run_lib': imports}) == {'run_lib': [
      'checkpoints.checkpoint_lib', 'encoding.encoded_lib',
      'steering.rules_lib', 'studio.page']}
  assert _doors_passed({'steering.rules_lib': {'steering.attributes_lib'}}) \
      == {}
  assert _core_into_studio_or_encoding({'run_lib': imports}) == {
      'run_lib': ['encoding.encoded_lib', 'studio', 'studio.page']}
  assert _beam_importers({'encoding.encoded_lib': ast.parse(
      'from apache_beam.io import filesystems')}) == {'encoding.encoded_lib'}
  assert _over_budget({'core': AREA_BUDGETS['core'] + 1}) == {
      'core': (AREA_BUDGETS['core'] + 1, AREA_BUDGETS['core'])}


def test_no_import_circle():
  assert _circle(_graph()) is None


def test_no_library_module_imports_a_script():
  assert _scripts_imported_by_libraries(_graph()) == {}


@pytest.mark.parametrize('name', sorted(_modules()))
def test_module_and_class_sizes(name):
  source = _modules()[name].read_text(encoding='utf-8')
  assert len(source.splitlines()) <= MAX_MODULE_LINES
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.ClassDef):
      assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name


def test_outside_a_wing_only_its_door_is_used():
  # Library modules, scripts and other wings; the package's _MOVED table
  # names moved modules as bare strings, which the reader does not follow.
  assert _doors_passed(_graph()) == {}
  known = set(_modules())
  assert _doors_passed({f'bin/{name}': _imported_names(tree, known)
                        for name, tree in _bin_trees().items()}) == {}


def test_the_core_imports_neither_studio_nor_encoding():
  assert _core_into_studio_or_encoding(_graph()) == {}


def test_only_the_encoding_pipeline_imports_beam():
  trees = {name: _tree(path) for name, path in _modules().items()}
  importers = _beam_importers(trees)
  assert importers <= BEAM_MODULES
  assert 'encoding.encoded_lib' not in importers
  assert importers  # The reader sees Beam where it is.


@pytest.mark.parametrize('area', sorted(AREA_BUDGETS))
def test_area_line_budget(area):
  lines = _lines_by_area(_modules())
  assert lines[area] <= AREA_BUDGETS[area], _over_budget(lines)


def test_library_line_budget():
  total = sum(_lines_by_area(_modules()).values())
  assert total <= LIBRARY_BUDGET, f'{total} lines > {LIBRARY_BUDGET}'
