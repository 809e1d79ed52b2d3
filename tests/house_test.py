"""The package's shape, as issue 22 fixed it: kept, not only reached once.

Read from the source with `ast` (nothing is imported): no module imports
another in a circle, no library module imports a script, no module is over
450 lines and no class over 300.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'midime_magenta'
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 300


def _modules():
  return {p.stem: p for p in sorted(PACKAGE.glob('*.py'))
          if not p.stem.endswith('_test') and p.stem != '__init__'}


def _is_script(name):
  return name.startswith('midime_') and name not in ('midime_model',
                                                      'midime_hparams')


def _imports(path, known):
  """The package modules `path` imports, at any depth of the file."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
    if isinstance(node, ast.ImportFrom) and node.module == 'midime_magenta':
      found.update(a.name for a in node.names if a.name in known)
    elif isinstance(node, ast.ImportFrom) and node.module and (
        node.module.startswith('midime_magenta.')):
      found.add(node.module.split('.')[1])
    elif isinstance(node, ast.Import):
      found.update(a.name.split('.')[1] for a in node.names
                   if a.name.startswith('midime_magenta.'))
  return found & set(known)


def _graph():
  modules = _modules()
  return {name: _imports(path, modules) - {name}
          for name, path in modules.items()}


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


def test_the_reader_finds_the_imports_it_checks():
  graph = _graph()
  # Known edges: if the reader missed imports, the checks below could not fail.
  assert 'personalizer' in graph['midime_train']
  assert 'run_lib' in graph['personalizer']
  assert _circle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


def test_no_import_circle():
  assert _circle(_graph()) is None


def test_no_library_module_imports_a_script():
  graph = _graph()
  wrong = {name: sorted(n for n in imports if _is_script(n))
           for name, imports in graph.items() if not _is_script(name)}
  assert {k: v for k, v in wrong.items() if v} == {}


@pytest.mark.parametrize('name', sorted(_modules()))
def test_module_and_class_sizes(name):
  source = _modules()[name].read_text(encoding='utf-8')
  assert len(source.splitlines()) <= MAX_MODULE_LINES
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.ClassDef):
      assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name
