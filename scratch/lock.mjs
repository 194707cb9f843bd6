import Database from 'better-sqlite3';
import fs from 'node:fs';
const d='/tmp/wa/l'; fs.rmSync(d,{recursive:true,force:true}); fs.mkdirSync(d);
const mk=()=>{const db=new Database(d+'/j.db'); db.pragma('busy_timeout=0'); db.prepare("ATTACH ? AS cache").run(d+'/c.db'); db.pragma('journal_mode=WAL'); db.pragma('cache.journal_mode=WAL'); return db;};
const a=mk(), b=mk();
a.exec('CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT); CREATE TABLE IF NOT EXISTS cache.m(k TEXT PRIMARY KEY, v TEXT)');
// b holds cache write lock
b.exec('BEGIN'); b.exec("UPDATE cache.m SET k=k WHERE 0");
try { a.exec('BEGIN IMMEDIATE'); console.log('immediate ok?'); a.exec('ROLLBACK'); } catch(e){ console.log('immediate:', e.code); }
a.exec('BEGIN'); a.exec("UPDATE main.meta SET k=k WHERE 0"); a.exec("INSERT INTO main.meta VALUES('x','y')"); a.exec('COMMIT'); console.log('journal-only ok');
// does b's dummy update hold the lock? try a cache write from a
try { a.exec('BEGIN'); a.exec("UPDATE cache.m SET k=k WHERE 0"); console.log('a got cache lock -> dummy does NOT lock'); a.exec('ROLLBACK'); } catch(e){ console.log('a cache lock:', e.code); try{a.exec('ROLLBACK')}catch{} }
b.exec('COMMIT');
// rename with fk
a.pragma('foreign_keys=ON');
a.exec(`CREATE TABLE cache.passes(id TEXT PRIMARY KEY, x); CREATE TABLE cache.credentials(hash BLOB PRIMARY KEY, pass_id TEXT NOT NULL REFERENCES passes(id) ON DELETE CASCADE) WITHOUT ROWID; CREATE INDEX cache.credentials_pass ON credentials(pass_id);`);
a.exec(`CREATE TABLE cache.stage_passes_t(id TEXT PRIMARY KEY, x); CREATE TABLE cache.stage_credentials_t(hash BLOB PRIMARY KEY, pass_id TEXT NOT NULL REFERENCES stage_passes_t(id) ON DELETE CASCADE) WITHOUT ROWID;`);
a.exec(`INSERT INTO cache.passes VALUES('a',1); INSERT INTO cache.credentials VALUES(x'01','a'); INSERT INTO cache.stage_passes_t VALUES('b',1); INSERT INTO cache.stage_credentials_t VALUES(x'02','b');`);
const sel=b.prepare('SELECT c.pass_id FROM credentials c JOIN passes p ON p.id=c.pass_id WHERE c.hash=?');
console.log('before', sel.get(Buffer.from([1])), sel.get(Buffer.from([2])));
a.transaction(()=>{a.exec(`ALTER TABLE cache.passes RENAME TO old_passes_t; ALTER TABLE cache.credentials RENAME TO old_credentials_t; ALTER TABLE cache.stage_passes_t RENAME TO passes; ALTER TABLE cache.stage_credentials_t RENAME TO credentials;`)}).immediate();
console.log('after', sel.get(Buffer.from([1])), sel.get(Buffer.from([2])));
console.log(a.prepare("SELECT name, sql FROM cache.sqlite_schema").all());
a.exec('DELETE FROM cache.old_passes_t'); console.log(a.prepare('select count(*) n from cache.old_credentials_t').get());
