// A real OpenID Connect provider (the certified npm package `oidc-provider`) for the lab's sign-in
// tests, on loopback over plain http. Not for production: its login form takes a known user's
// name and password, its signing keys and cookie keys are throw-away ones made at start.
//
//   node provider.js PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Users (login = password): admin, instructor, student, clinician, each with a `roles` claim
// (values a university's provider might send: lab-admin, teacher, student, clinician; the tests
// map them with LAB_ROLE_MAP). Prints "ready <issuer>" once it listens.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !redirectUri) {
  console.error('usage: node provider.js PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const USERS = {
  admin: { email: 'admin@lab.test', name: 'Ada Admin', roles: ['lab-admin'] },
  instructor: { email: 'instructor@lab.test', name: 'Ines Instructor', roles: ['teacher'] },
  student: { email: 'student@lab.test', name: 'Sam Student', roles: ['student'] },
  clinician: { email: 'clinician@lab.test', name: 'Chris Clinician', roles: ['clinician'] },
};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'roles'] },
  conformIdTokenClaims: false, // the scope's claims (roles) in the ID token, which is what Streamlit reads
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return { accountId: id, async claims() { return { sub: id, email_verified: true, ...user }; } };
  },
  // the lab is a first-party client: no consent screen after the login form
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
// the dev login form takes any login; this one takes only the known users, password = login
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString();
    const form = new URLSearchParams(raw);
    if (form.get('prompt') === 'login' && (!USERS[form.get('login')] || form.get('password') !== form.get('login'))) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = '<p id="error">Unknown user or wrong password.</p>';
      return;
    }
    ctx.req.body = raw; // read here: the provider takes an already-read body from req.body
  }
  await next();
});
provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
