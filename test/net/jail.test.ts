// The shared path jail (TFTP and HTTP files): segment rules and the realpath containment check.
import t from 'tap'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkSegment, isInside, JailError, resolveInRealRoot, resolveInRoot, segmentProblem } from '../../src/net/jail.js'

t.test('segments: plain names pass, anything that could climb out or confuse is refused', async (t) => {
  for (const ok of ['a', 'start4.elf', '...', '..a', 'a..', '.hidden', 'with space', 'ünïcode', 'a:b']) {
    t.equal(segmentProblem(ok), null, JSON.stringify(ok))
  }
  const bad: Array<[string, RegExp]> = [
    ['..', /"\.\."/],
    ['a\0b', /NUL/],
    ['\0', /NUL/],
    ['a\\b', /backslash/],
    ['..\\..', /backslash/],
    ['x\ny', /control/],
    ['\r', /control/],
    ['\x7f', /control/],
    ['\x1b[2J', /control/],
    ['a/b', /slash/],
    ['/', /slash/],
  ]
  for (const [seg, why] of bad) {
    t.match(segmentProblem(seg), why, JSON.stringify(seg))
    t.throws(() => checkSegment(seg), JailError)
  }
  t.equal(segmentProblem(''), null, 'empty segments are the caller\'s choice')
  t.equal(segmentProblem('.'), null, '"." is the caller\'s choice')
})

t.test('isInside: prefix of a sibling is not inside', async (t) => {
  t.ok(isInside('/srv/root', '/srv/root'))
  t.ok(isInside('/srv/root', '/srv/root/a/b'))
  t.notOk(isInside('/srv/root', '/srv/rootkit/a'))
  t.notOk(isInside('/srv/root', '/srv'))
  t.ok(isInside('/', '/etc/passwd'), 'the file system root holds everything')
})

t.test('resolveInRoot: symlinks inside pass, outside or through ".." are refused', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'bootlab-jail-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const root = join(base, 'root')
  await mkdir(join(root, 'sub'), { recursive: true })
  await mkdir(join(base, 'rootkit'))
  await writeFile(join(root, 'sub', 'file'), 'x')
  await writeFile(join(base, 'secret'), 'secret')
  await writeFile(join(base, 'rootkit', 'f'), 'sibling')
  await symlink('sub/file', join(root, 'inside'))
  await symlink(join(base, 'secret'), join(root, 'outside-abs'))
  await symlink('../secret', join(root, 'outside-rel'))
  await symlink('../rootkit', join(root, 'sibling'))
  await symlink(join(root, 'sub'), join(root, 'dirlink'))
  await symlink('loop', join(root, 'loop'))
  await symlink(root, join(base, 'root-link'))

  t.equal(await resolveInRoot(root, ['sub', 'file']), join(root, 'sub', 'file'))
  t.equal(await resolveInRoot(root, ['inside']), join(root, 'sub', 'file'), 'a relative symlink inside the root')
  t.equal(await resolveInRoot(root, ['dirlink', 'file']), join(root, 'sub', 'file'), 'an absolute symlink back into the root')
  t.equal(await resolveInRoot(join(base, 'root-link'), ['sub', 'file']), join(root, 'sub', 'file'), 'the root itself may be a symlink')
  t.equal(await resolveInRoot(root, []), root, 'no segments: the root')
  await t.rejects(resolveInRoot(root, ['outside-abs']), JailError)
  await t.rejects(resolveInRoot(root, ['outside-rel']), JailError)
  await t.rejects(resolveInRoot(root, ['sibling', 'f']), JailError, 'a sibling sharing the root\'s name as prefix')
  await t.rejects(resolveInRoot(root, ['..', 'secret']), JailError, '".." is refused before any lookup')
  await t.rejects(resolveInRoot(root, ['sub', '..', '..', 'secret']), JailError)
  await t.rejects(resolveInRoot(root, ['a\0b']), JailError)
  await t.rejects(resolveInRoot(root, ['missing']), { code: 'ENOENT' }, 'absent files: the file system error passes through')
  await t.rejects(resolveInRoot(root, ['sub', 'file', 'x']), { code: 'ENOTDIR' })
  await t.rejects(resolveInRoot(root, ['loop']), { code: 'ELOOP' })
  await t.rejects(resolveInRoot(join(base, 'no-root'), ['x']), { code: 'ENOENT' }, 'a missing root')
  await t.rejects(resolveInRealRoot(root, ['outside-rel']), JailError)
})
