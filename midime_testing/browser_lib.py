"""Debian's chromium, headless, driven by Selenium (tests and bench/studio.py).

Only the system browser: no browser is downloaded. The flags keep it off the
network (this machine has none beyond the registries) and out of the GPU.
"""

import os

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


def available():
  return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def chromium(profile, downloads=None):
  """A headless chromium with its own profile folder; downloads land in
  `downloads` without a prompt."""
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in ('--headless=new', '--no-sandbox', '--disable-gpu',
               '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--window-size=1280,1600',
               f'--user-data-dir={profile}'):
    options.add_argument(flag)
  if downloads:
    options.add_experimental_option('prefs', {
        'download.default_directory': str(downloads),
        'download.prompt_for_download': False})
  return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
